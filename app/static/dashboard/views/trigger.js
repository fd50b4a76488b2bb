// The trigger part of the job form: interval, cron (expression or fields) or date.

import { h } from "../dom.js";
import { field, input } from "./fields.js";

export const TRIGGER_TYPES = ["interval", "cron", "date"];
const INTERVAL_UNITS = ["weeks", "days", "hours", "minutes", "seconds"];
const CRON_FIELDS = ["month", "day", "day_of_week", "hour", "minute", "second"];
export const SHARED_TRIGGER_FIELDS = ["timezone", "start_date", "end_date", "jitter"];

export function triggerFieldset(spec, locked) {
  const type = h(
    "select",
    { name: "trigger_type", id: "trigger-type", disabled: locked },
    TRIGGER_TYPES.map((t) => h("option", { value: t, text: t })),
  );
  type.value = spec.type || "cron";
  const num = (name, value) =>
    input(name, { type: "number", min: 0, step: "any", value: value ?? "", disabled: locked });
  const interval = h(
    "div",
    { class: "trigger-panel row", "data-panel": "interval" },
    INTERVAL_UNITS.map((u) =>
      field(
        `trigger.interval.${u}`,
        u,
        num(`interval:${u}`, spec.type === "interval" ? spec[u] : ""),
      ),
    ),
  );
  const hasFields =
    spec.type === "cron" && !spec.expression && CRON_FIELDS.some((f) => spec[f] !== undefined);
  const cronMode = h(
    "select",
    { name: "cron_mode", id: "cron-mode", disabled: locked },
    h("option", { value: "expression", text: "crontab expression" }),
    h("option", { value: "fields", text: "cron fields" }),
  );
  cronMode.value = hasFields ? "fields" : "expression";
  const expression = field(
    "trigger.cron.expression",
    "Expression",
    input("cron:expression", {
      id: "cron-expression",
      placeholder: "0 3 * * *  (minute hour day month weekday; 0 or 7 = Sunday)",
      value: (spec.type === "cron" && spec.expression) || "",
      disabled: locked,
    }),
    "Five crontab fields, or six with seconds first.",
  );
  const fields = h(
    "div",
    { class: "row", "data-cron-mode": "fields" },
    CRON_FIELDS.map((f) =>
      field(
        `trigger.cron.${f}`,
        f.replace("_", " "),
        input(`cron:${f}`, {
          value: spec.type === "cron" && spec[f] !== undefined && spec[f] !== null ? spec[f] : "",
          placeholder: "*",
          disabled: locked,
        }),
      ),
    ),
  );
  const expressionBox = h("div", { "data-cron-mode": "expression" }, expression);
  const cron = h(
    "div",
    { class: "trigger-panel", "data-panel": "cron" },
    field("trigger.cron.mode", "Cron as", cronMode),
    expressionBox,
    fields,
  );
  const date = h(
    "div",
    { class: "trigger-panel", "data-panel": "date" },
    field(
      "trigger.date.run_date",
      "Run at",
      input("date:run_date", {
        placeholder: "2027-01-01T09:00:00Z",
        value: spec.type === "date" ? spec.run_date || "" : "",
        disabled: locked,
      }),
      "ISO 8601 with a zone offset",
    ),
  );
  const shared = h(
    "div",
    { class: "row", "data-shared": "" },
    field(
      "trigger.timezone",
      "Time zone",
      input("trigger:timezone", { value: spec.timezone || "UTC", disabled: locked }),
    ),
    field(
      "trigger.start_date",
      "Start",
      input("trigger:start_date", {
        value: spec.start_date || "",
        placeholder: "optional",
        disabled: locked,
      }),
    ),
    field(
      "trigger.end_date",
      "End",
      input("trigger:end_date", {
        value: spec.end_date || "",
        placeholder: "optional",
        disabled: locked,
      }),
    ),
    field(
      "trigger.jitter",
      "Jitter (s)",
      input("trigger:jitter", {
        type: "number",
        min: 0,
        value: spec.jitter ?? "",
        disabled: locked,
      }),
    ),
  );
  const sync = () => {
    for (const panel of [interval, cron, date]) panel.hidden = panel.dataset.panel !== type.value;
    expressionBox.hidden = cronMode.value !== "expression";
    fields.hidden = cronMode.value !== "fields";
    for (const el of shared.querySelectorAll("[data-field]")) {
      el.hidden = type.value === "date" && el.dataset.field !== "trigger.timezone";
    }
  };
  type.addEventListener("change", sync);
  cronMode.addEventListener("change", sync);
  sync();
  return h(
    "fieldset",
    { id: "trigger-fieldset" },
    h("legend", { text: "Trigger" }),
    locked
      ? h("p", { class: "muted", text: "This job's trigger follows its bot config's interval." })
      : null,
    field("trigger.type", "Type", type),
    interval,
    cron,
    date,
    shared,
    h("span", { class: "field-error", "data-error-for": "trigger" }),
  );
}

export function readTrigger(form) {
  const value = (name) => {
    const el = form.querySelector(`[name='${name}']`);
    return el ? el.value.trim() : "";
  };
  const type = value("trigger_type");
  const spec = { type };
  if (type === "interval") {
    for (const unit of INTERVAL_UNITS)
      if (value(`interval:${unit}`) !== "") spec[unit] = Number(value(`interval:${unit}`));
  } else if (type === "cron") {
    if (value("cron_mode") === "expression") spec.expression = value("cron:expression");
    else for (const f of CRON_FIELDS) if (value(`cron:${f}`) !== "") spec[f] = value(`cron:${f}`);
  } else {
    spec.run_date = value("date:run_date");
  }
  if (value("trigger:timezone") !== "") spec.timezone = value("trigger:timezone");
  if (type !== "date") {
    if (value("trigger:start_date") !== "") spec.start_date = value("trigger:start_date");
    if (value("trigger:end_date") !== "") spec.end_date = value("trigger:end_date");
    if (value("trigger:jitter") !== "") spec.jitter = Number(value("trigger:jitter"));
  }
  return spec;
}
