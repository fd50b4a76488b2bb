// The buttons of a job (pause, resume, run now, edit, delete), as the user's role allows.

import { api, errorText } from "./api.js";
import { h, toast } from "./dom.js";
import { may } from "./roles.js";
import { state } from "./state.js";

export function managed(job) {
  return job.builtin || job.bot_config_id !== null;
}

async function jobAction(job, action, reason, after, json) {
  const paths = {
    pause: ["POST", `/tasks/${encodeURIComponent(job.id)}/pause`],
    resume: ["POST", `/tasks/${encodeURIComponent(job.id)}/resume`],
    run: ["POST", `/tasks/${encodeURIComponent(job.id)}/run`],
    delete: ["DELETE", `/tasks/${encodeURIComponent(job.id)}`],
  };
  const [method, path] = paths[action];
  try {
    const result = await api(
      method,
      path,
      json ? { query: { reason }, json } : { query: { reason } },
    );
    const done = {
      pause: `Paused ${job.id}.`,
      resume:
        result.catch_up === null || result.catch_up === undefined
          ? `Resumed ${job.id}.`
          : `Resumed ${job.id}, catching up ${result.catch_up} missed slot(s).`,
      run: `Started ${job.id} (execution #${result.execution_id}).`,
      delete: `Deleted ${job.id}.`,
    };
    toast(done[action], "ok");
  } catch (error) {
    toast(`${action} ${job.id}: ${errorText(error)}`, "error");
  }
  if (after) await after(action);
}

export function actionButtons(job, reasonInput, after) {
  const reason = () => reasonInput?.value.trim() || undefined;
  const buttons = [];
  if (may("operator")) {
    buttons.push(
      job.paused
        ? h("button", {
            type: "button",
            "data-action": "resume",
            text: "Resume",
            title: "From the next slot; the slots missed while paused stay missed",
            onclick: () => jobAction(job, "resume", reason(), after),
          })
        : h("button", {
            type: "button",
            "data-action": "pause",
            text: "Pause",
            onclick: () => jobAction(job, "pause", reason(), after),
          }),
      job.paused
        ? h("button", {
            type: "button",
            "data-action": "resume-catch-up",
            text: "Resume and catch up",
            title: job.catchup_window_seconds
              ? `Also run the slots missed while paused, of the last ${job.catchup_window_seconds} s`
              : "Also run the latest slot missed while paused, once",
            onclick: () => jobAction(job, "resume", reason(), after, { catch_up: true }),
          })
        : null,
      h("button", {
        type: "button",
        "data-action": "run",
        text: "Run now",
        onclick: () => jobAction(job, "run", reason(), after),
      }),
    );
  }
  if (!may("admin")) return h("div", { class: "actions" }, buttons);
  buttons.push(
    h("a", {
      class: "button",
      "data-action": "edit",
      href: `#/jobs/${encodeURIComponent(job.id)}/edit`,
      text: "Edit",
    }),
  );
  if (managed(job)) {
    buttons.push(
      h("button", {
        type: "button",
        "data-action": "delete",
        disabled: true,
        title: job.builtin
          ? "Built-in jobs cannot be deleted; pause them instead"
          : "Follows its bot config",
        text: "Delete",
      }),
    );
  } else if (state.armedDelete === job.id) {
    buttons.push(
      h("button", {
        type: "button",
        class: "danger",
        "data-action": "confirm-delete",
        text: "Confirm delete",
        onclick: () => {
          state.armedDelete = null;
          jobAction(job, "delete", reason(), after);
        },
      }),
    );
  } else {
    buttons.push(
      h("button", {
        type: "button",
        "data-action": "delete",
        text: "Delete",
        onclick: (event) => {
          state.armedDelete = job.id;
          const confirm = h("button", {
            type: "button",
            class: "danger",
            "data-action": "confirm-delete",
            text: "Confirm delete",
            onclick: () => {
              state.armedDelete = null;
              jobAction(job, "delete", reason(), after);
            },
          });
          event.currentTarget.replaceWith(confirm);
          setTimeout(() => {
            if (state.armedDelete === job.id) state.armedDelete = null;
          }, 6000);
        },
      }),
    );
  }
  return h("div", { class: "actions" }, buttons);
}
