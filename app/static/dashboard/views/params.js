// A task's parameters as form fields, built from its JSON schema, and read back.

import { h } from "../dom.js";
import { FormError, field, input } from "./fields.js";

// The non-null type of a JSON schema property ("integer", "string", ...), or null
// for anything a single input cannot hold.
function simpleType(prop) {
  if (prop.type && typeof prop.type === "string") return prop.type;
  const options = (prop.anyOf || []).filter((o) => o.type !== "null");
  return options.length === 1 && typeof options[0].type === "string" ? options[0].type : null;
}

export function paramsFields(task, values) {
  const box = h("div", { class: "params", id: "params-fields" });
  if (!task) return box;
  const schema = task.params_schema || {};
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const names = Object.keys(props);
  if (!names.length) box.append(h("p", { class: "muted", text: "This task takes no parameters." }));
  for (const name of names) {
    const prop = props[name];
    const type = simpleType(prop);
    const label = `${prop.title || name}${required.has(name) ? " *" : ""}`;
    const value = values && name in values ? values[name] : prop.default;
    let el;
    if (Array.isArray(prop.enum) && prop.enum.every((option) => typeof option === "string")) {
      el = h(
        "select",
        { name: `param:${name}`, "data-type": "string" },
        prop.enum.map((option) => h("option", { value: option, text: option })),
      );
      el.value = value === undefined || value === null ? prop.enum[0] : String(value);
    } else if (type === "boolean") {
      el = h("input", {
        type: "checkbox",
        name: `param:${name}`,
        "data-type": type,
        checked: Boolean(value),
      });
    } else if (type === "integer" || type === "number" || type === "string") {
      el = input(`param:${name}`, {
        type: type === "string" ? "text" : "number",
        step: type === "integer" ? "1" : "any",
        "data-type": type,
        value: value === undefined || value === null ? "" : String(value),
      });
    } else {
      el = h("textarea", {
        name: `param:${name}`,
        "data-type": "json",
        rows: 2,
        value: value === undefined ? "" : JSON.stringify(value),
      });
    }
    box.append(field(`params.${name}`, label, el, prop.description));
  }
  box.append(h("span", { class: "field-error", "data-error-for": "params" }));
  return box;
}

// The params as the task's model takes them. A value equal to its default is left
// out, so the job follows the task's default if that ever changes.
export function readParams(form, task) {
  const params = {};
  const schema = task?.params_schema || {};
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  for (const el of form.querySelectorAll("[name^='param:']")) {
    const name = el.name.slice("param:".length);
    const type = el.dataset.type;
    let value;
    if (type === "boolean") {
      value = el.checked;
    } else if (el.value === "" && !required.has(name)) {
      continue;
    } else if (type === "integer" || type === "number") {
      value = el.value === "" ? null : Number(el.value);
    } else if (type === "json") {
      try {
        value = JSON.parse(el.value);
      } catch {
        throw new FormError(`params.${name}`, "not valid JSON");
      }
    } else {
      value = el.value;
    }
    const prop = props[name] || {};
    if (
      !required.has(name) &&
      "default" in prop &&
      JSON.stringify(prop.default) === JSON.stringify(value)
    ) {
      continue;
    }
    params[name] = value;
  }
  return params;
}
