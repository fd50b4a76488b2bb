// Building the page. Every piece of text from the API goes in through textContent or
// attributes, never as markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  appendAll(el, children);
  return el;
}

export function s(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  applyAttrs(el, attrs);
  appendAll(el, children);
  return el;
}

function applyAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") el.textContent = String(value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "value") el.value = value;
    else if (key === "checked") el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

function appendAll(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const main = () => $("#main");

export function toast(message, kind = "info") {
  const box = $("#toast");
  box.textContent = message;
  box.className = `toast ${kind}`;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(
    () => {
      box.hidden = true;
    },
    kind === "error" ? 8000 : 4000,
  );
}

export function badge(text, kind) {
  return h("span", { class: `badge ${kind || text}`, text });
}

export function card(title, ...body) {
  return h("div", { class: "card" }, h("h3", { text: title }), ...body);
}

export function showFatal(message) {
  main().replaceChildren(
    h("section", { class: "panel" }, h("p", { class: "error", text: message })),
  );
}
