// The form that creates or edits a job, with a preview of its next fire times.

import { managed } from "../actions.js";
import { ApiError, api, errorText } from "../api.js";
import { $, h, main, showFatal, toast } from "../dom.js";
import { fmtFire } from "../format.js";
import { state } from "../state.js";
import { FormError, field, input } from "./fields.js";
import { paramsFields, readParams } from "./params.js";
import { readTrigger, SHARED_TRIGGER_FIELDS, TRIGGER_TYPES, triggerFieldset } from "./trigger.js";

// Which field of the form an API error is about: the most specific one shown.
function errorKey(loc, form) {
  const path = (loc || []).filter((p) => p !== "body").map(String);
  if (
    path[0] === "trigger" &&
    TRIGGER_TYPES.includes(path[1]) &&
    SHARED_TRIGGER_FIELDS.includes(path[2])
  ) {
    path.splice(1, 1);
  }
  if (path[0] === "timezone") path.unshift("trigger");
  // A cron trigger that does not parse is about its expression, when one was typed.
  if (path.length === 2 && path[0] === "trigger" && path[1] === "cron") {
    const mode = form.querySelector("[name='cron_mode']");
    if (mode && mode.value === "expression") path.push("expression");
  }
  for (let n = path.length; n > 0; n -= 1) {
    const key = path.slice(0, n).join(".");
    const target = form.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
    if (target && !target.closest("[hidden]")) return key;
  }
  return null;
}

function clearErrors(form) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll(".has-error")) el.classList.remove("has-error");
  $("#form-error", form).textContent = "";
}

function showErrors(form, error) {
  const general = [];
  const put = (key, message) => {
    const target = key && form.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
    if (!target) {
      general.push(message);
      return;
    }
    target.textContent = target.textContent ? `${target.textContent}; ${message}` : message;
    const wrapper = target.closest("[data-field]");
    if (wrapper) wrapper.classList.add("has-error");
  };
  if (error instanceof FormError) put(error.key, error.message);
  else if (error instanceof ApiError && Array.isArray(error.detail)) {
    for (const item of error.detail) put(errorKey(item.loc, form), cleanMessage(item.msg));
  } else general.push(errorText(error));
  $("#form-error", form).textContent = general.join("; ");
}

function cleanMessage(message) {
  return String(message || "").replace(/^Value error, /, "");
}

export async function viewForm(jobId) {
  const view = state.view;
  main().replaceChildren(h("p", { class: "muted", text: "Loading…" }));
  let tasks;
  let job = null;
  try {
    [tasks, job] = await Promise.all([
      api("GET", "/tasks/registry"),
      jobId ? api("GET", `/tasks/${encodeURIComponent(jobId)}`) : Promise.resolve(null),
    ]);
  } catch (error) {
    return showFatal(errorText(error));
  }
  if (view !== state.view) return undefined;
  const editing = job !== null;
  const byName = new Map(tasks.map((t) => [t.name, t]));
  const spec = editing ? job.trigger_spec || { type: "cron" } : { type: "cron", timezone: "UTC" };
  const triggerLocked = editing && job.bot_config_id !== null;
  const taskLocked = editing && managed(job);

  const taskSelect = h(
    "select",
    { name: "task", id: "task-select", disabled: taskLocked },
    editing ? null : h("option", { value: "", text: "— choose a task —" }),
    tasks.map((t) => h("option", { value: t.name, text: t.name })),
  );
  if (editing) taskSelect.value = job.task || "";
  const taskHelp = h("p", { class: "muted", id: "task-description" });
  const paramsBox = h("div", {});
  const renderParams = (values) => {
    const task = byName.get(taskSelect.value);
    taskHelp.textContent = task ? task.description : "";
    paramsBox.replaceChildren(paramsFields(task, values));
    for (const el of paramsBox.querySelectorAll("input, textarea")) el.disabled = taskLocked;
  };
  taskSelect.addEventListener("change", () => renderParams(null));

  const previewList = h("ol", { id: "preview-list" });
  const previewText = h("p", { class: "muted", id: "preview-description" });
  const previewButton = h("button", {
    type: "button",
    id: "preview-button",
    text: "Preview next runs",
  });
  const submit = h("button", {
    type: "submit",
    class: "primary",
    id: "save-button",
    text: editing ? "Save changes" : "Create job",
  });

  const form = h(
    "form",
    { id: "job-form", class: "panel", novalidate: true },
    h("h1", { text: editing ? `Edit ${job.name}` : "New job" }),
    h(
      "fieldset",
      {},
      h("legend", { text: "Job" }),
      editing
        ? h("p", { class: "mono", text: job.id })
        : field(
            "id",
            "Id *",
            input("id", { id: "job-id", placeholder: "nightly_report", autocomplete: "off" }),
            "Letters, digits and _ . : -",
          ),
      field("name", "Name", input("name", { id: "job-name", value: editing ? job.name : "" })),
      field("task", "Task *", taskSelect),
      taskHelp,
    ),
    h("fieldset", {}, h("legend", { text: "Parameters" }), paramsBox),
    triggerFieldset(spec, triggerLocked),
    h(
      "fieldset",
      { class: "row" },
      h("legend", { text: "Options" }),
      field(
        "timeout_seconds",
        "Timeout (s)",
        input("timeout_seconds", {
          type: "number",
          min: 0,
          step: "any",
          value: editing && job.timeout_seconds ? job.timeout_seconds : "",
          placeholder: "task default",
        }),
      ),
      field(
        "max_instances",
        "Max instances",
        input("max_instances", {
          type: "number",
          min: 1,
          step: 1,
          value: editing ? job.max_instances : 1,
        }),
      ),
      field(
        "misfire_grace_time",
        "Misfire grace (s)",
        input("misfire_grace_time", {
          type: "number",
          min: 1,
          step: 1,
          value: editing && job.misfire_grace_time ? job.misfire_grace_time : "",
          placeholder: "run late runs",
        }),
      ),
      field(
        "pause_after_failures",
        "Pause after failures in a row",
        input("pause_after_failures", {
          type: "number",
          min: 1,
          max: 1000,
          step: 1,
          value: editing && job.pause_after_failures ? job.pause_after_failures : "",
          placeholder: "never",
        }),
      ),
      field(
        "overlap",
        "When a slot comes while a run still runs",
        h(
          "select",
          { name: "overlap", id: "overlap-select" },
          OVERLAP_POLICIES.map(([value, text]) =>
            h("option", {
              value,
              text,
              selected: (editing ? job.overlap : "skip") === value,
            }),
          ),
        ),
      ),
      field(
        "catchup_window_seconds",
        "Catch-up window (s)",
        input("catchup_window_seconds", {
          type: "number",
          min: 1,
          step: 1,
          value: editing && job.catchup_window_seconds ? job.catchup_window_seconds : "",
          placeholder: "run every missed slot",
        }),
        "Slots missed while no scheduler ran run if younger than this; older ones are missed",
      ),
      field(
        "coalesce",
        "Coalesce missed runs",
        h("input", {
          type: "checkbox",
          name: "coalesce",
          checked: editing ? job.coalesce !== false : true,
        }),
      ),
      editing
        ? null
        : field("paused", "Create paused", h("input", { type: "checkbox", name: "paused" })),
    ),
    retryFieldset(editing ? job.retry : null),
    field(
      "reason",
      "Reason (audit log)",
      input("reason", { maxlength: 500, placeholder: "optional" }),
    ),
    h(
      "section",
      { class: "preview", id: "preview" },
      h("div", { class: "toolbar" }, h("h2", { text: "Next fire times" }), previewButton),
      previewText,
      previewList,
    ),
    h("p", { class: "error", id: "form-error" }),
    h(
      "div",
      { class: "toolbar" },
      submit,
      h("a", {
        class: "button",
        href: editing ? `#/jobs/${encodeURIComponent(job.id)}` : "#/",
        text: "Cancel",
      }),
    ),
  );
  main().replaceChildren(form);
  renderParams(editing ? job.params || {} : null);

  const optionNumber = (name) => {
    const value = form.querySelector(`[name='${name}']`).value.trim();
    return value === "" ? null : Number(value);
  };
  const readAll = () => ({
    name: form.querySelector("[name='name']").value.trim() || null,
    task: taskSelect.value,
    params: readParams(form, byName.get(taskSelect.value)),
    trigger: readTrigger(form),
    timeout_seconds: optionNumber("timeout_seconds"),
    max_instances: optionNumber("max_instances"),
    misfire_grace_time: optionNumber("misfire_grace_time"),
    coalesce: form.querySelector("[name='coalesce']").checked,
    pause_after_failures: optionNumber("pause_after_failures"),
    overlap: form.querySelector("[name='overlap']").value,
    catchup_window_seconds: optionNumber("catchup_window_seconds"),
    retry: readRetry(form, optionNumber),
  });
  const initial = editing ? JSON.stringify(readAll()) : null;

  const preview = async () => {
    clearErrors(form);
    let trigger;
    try {
      trigger = readTrigger(form);
    } catch (error) {
      showErrors(form, error);
      return false;
    }
    previewButton.disabled = true;
    try {
      const result = await api("POST", "/tasks/preview", { json: { trigger, count: 5 } });
      previewText.textContent = result.next_fire_times.length
        ? `${result.description}. Times in ${result.timezone}:`
        : `${result.description}: no more fire times.`;
      previewList.replaceChildren(
        ...result.next_fire_times.map((t) => h("li", { text: fmtFire(t, result.timezone) })),
      );
      return true;
    } catch (error) {
      previewText.textContent = "";
      previewList.replaceChildren();
      showErrors(form, error);
      return false;
    } finally {
      previewButton.disabled = false;
    }
  };
  previewButton.addEventListener("click", preview);
  let debounce = null;
  $("#trigger-fieldset", form).addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(preview, 600);
  });
  $("#trigger-fieldset", form).addEventListener("change", () => {
    clearTimeout(debounce);
    debounce = setTimeout(preview, 150);
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearTimeout(debounce);
    submit.disabled = true;
    try {
      // Nothing is saved unless the trigger previews cleanly first.
      if (!(await preview())) return;
      let values;
      try {
        values = readAll();
      } catch (error) {
        showErrors(form, error);
        return;
      }
      const reason = form.querySelector("[name='reason']").value.trim() || null;
      let saved;
      if (editing) {
        const before = JSON.parse(initial);
        const changes = {};
        for (const [key, value] of Object.entries(values)) {
          if (JSON.stringify(value) !== JSON.stringify(before[key])) changes[key] = value;
        }
        if (taskLocked) {
          delete changes.task;
          delete changes.params;
        }
        if (!Object.keys(changes).length) {
          toast("Nothing changed.");
          location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
          return;
        }
        if (reason) changes.reason = reason;
        saved = await api("PATCH", `/tasks/${encodeURIComponent(job.id)}`, { json: changes });
      } else {
        const body = { id: form.querySelector("[name='id']").value.trim() };
        for (const [key, value] of Object.entries(values)) if (value !== null) body[key] = value;
        body.paused = form.querySelector("[name='paused']").checked;
        if (reason) body.reason = reason;
        saved = await api("POST", "/tasks", { json: body });
      }
      toast(editing ? `Saved ${saved.id}.` : `Created ${saved.id}.`, "ok");
      location.hash = `#/jobs/${encodeURIComponent(saved.id)}`;
    } catch (error) {
      showErrors(form, error);
    } finally {
      submit.disabled = false;
    }
  });
  if (editing) preview();
  return undefined;
}

const RETRY_ON = ["failed", "timeout", "interrupted"];

// A job's retries: one attempt (no retries) unless more are asked for.
function retryFieldset(retry) {
  const on = retry ? retry.on : RETRY_ON;
  return h(
    "fieldset",
    { class: "row" },
    h("legend", { text: "Retries" }),
    field(
      "retry.max_attempts",
      "Attempts per run",
      input("retry_max_attempts", {
        type: "number",
        min: 1,
        max: 20,
        step: 1,
        value: retry ? retry.max_attempts : 1,
      }),
    ),
    field(
      "retry.backoff_seconds",
      "First wait (s)",
      input("retry_backoff_seconds", {
        type: "number",
        min: 0,
        step: "any",
        value: retry ? retry.backoff_seconds : 10,
      }),
    ),
    field(
      "retry.backoff_max_seconds",
      "Longest wait (s)",
      input("retry_backoff_max_seconds", {
        type: "number",
        min: 0,
        step: "any",
        value: retry ? retry.backoff_max_seconds : 3600,
      }),
    ),
    field(
      "retry.jitter",
      "Random part of the wait",
      h("input", {
        type: "checkbox",
        name: "retry_jitter",
        checked: retry ? retry.jitter : true,
      }),
    ),
    h(
      "div",
      { class: "field", "data-field": "retry.on" },
      h("span", { class: "label", text: "Retry when the run ended" }),
      h(
        "span",
        {},
        ...RETRY_ON.map((outcome) =>
          h(
            "label",
            {},
            h("input", {
              type: "checkbox",
              name: "retry_on",
              value: outcome,
              checked: on.includes(outcome),
            }),
            h("span", { text: ` ${outcome} ` }),
          ),
        ),
      ),
      h("span", { class: "field-error", "data-error-for": "retry.on" }),
    ),
  );
}

// The job's overlap policies, as the API names them, and what each does.
const OVERLAP_POLICIES = [
  ["skip", "skip: record the slot skipped"],
  ["buffer_one", "buffer_one: one waits, then runs"],
  ["buffer_all", "buffer_all: all wait, in order"],
  ["cancel_other", "cancel_other: cancel the running one"],
  ["allow_all", "allow_all: run at once, up to max instances"],
];

function readRetry(form, optionNumber) {
  const attempts = optionNumber("retry_max_attempts");
  if (attempts === null || attempts === 1) return null;
  return {
    max_attempts: attempts,
    backoff_seconds: optionNumber("retry_backoff_seconds") ?? 10,
    backoff_max_seconds: optionNumber("retry_backoff_max_seconds") ?? 3600,
    jitter: form.querySelector("[name='retry_jitter']").checked,
    on: [...form.querySelectorAll("[name='retry_on']:checked")].map((box) => box.value),
  };
}
