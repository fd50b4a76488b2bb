// The pieces of the job form: a labelled field with its error slot, and the error of one.

import { h } from "../dom.js";

export function field(key, label, input, hint) {
  return h(
    "label",
    { class: "field", "data-field": key },
    h("span", { class: "label", text: label }),
    input,
    hint ? h("span", { class: "hint", text: hint }) : null,
    h("span", { class: "field-error", "data-error-for": key }),
  );
}

export function input(name, attrs = {}) {
  return h("input", { name, type: "text", ...attrs });
}

export class FormError extends Error {
  constructor(key, message) {
    super(message);
    this.key = key;
  }
}
