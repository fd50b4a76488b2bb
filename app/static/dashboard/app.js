// The scheduler dashboard: a small single-page app over the task API, in native ES
// modules (no framework, no build step). This entry module signs the user in and out
// and routes the address's fragment to a view.

import { ApiError, api, errorText, tokens, whenSessionEnds } from "./api.js";
import { $, h, main, showFatal } from "./dom.js";
import { may, roleOf } from "./roles.js";
import { clearTimers, state } from "./state.js";
import { viewForm } from "./views/form.js";
import { viewJob } from "./views/job.js";
import { viewHome } from "./views/jobs.js";

async function route() {
  clearTimers();
  state.view += 1;
  if (!tokens.access) return showLogin();
  if (!state.me) {
    try {
      state.me = await api("GET", "/users/me");
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return undefined;
      return showFatal(errorText(error));
    }
  }
  state.role = roleOf(state.me);
  showUser();
  if (!state.role) {
    return showFatal(
      "The scheduler dashboard is for users with a role in the task system (viewer, operator or admin); this account has none.",
    );
  }
  const hash = location.hash.replace(/^#/, "") || "/";
  if (hash === "/" || hash === "") return viewHome();
  if (hash === "/new" && may("admin")) return viewForm(null);
  const edit = /^\/jobs\/([^/]+)\/edit$/.exec(hash);
  if (edit) {
    const jobId = decodeURIComponent(edit[1]);
    if (may("admin")) return viewForm(jobId);
    location.hash = `#/jobs/${encodeURIComponent(jobId)}`;
    return undefined;
  }
  const one = /^\/jobs\/([^/]+)$/.exec(hash);
  if (one) return viewJob(decodeURIComponent(one[1]));
  location.hash = "#/";
  return undefined;
}

function showUser() {
  $("#who").textContent = state.me ? state.me.email : "";
  $("#who-role").textContent = state.me && state.role ? state.role : "";
  $("#logout").hidden = !state.me;
  $("#topnav").hidden = !(state.me && state.role);
  $("#nav-new").hidden = !may("admin");
}

function showLogin(message) {
  clearTimers();
  state.me = null;
  state.role = null;
  showUser();
  const error = h("p", { class: "error", id: "login-error", text: message || "" });
  const form = h(
    "form",
    { class: "panel login", id: "login-form", onsubmit: onLogin },
    h("h1", { text: "Sign in" }),
    h(
      "label",
      { class: "field" },
      "Email",
      h("input", { name: "username", type: "email", autocomplete: "username", required: true }),
    ),
    h(
      "label",
      { class: "field" },
      "Password",
      h("input", {
        name: "password",
        type: "password",
        autocomplete: "current-password",
        required: true,
      }),
    ),
    error,
    h("button", { type: "submit", class: "primary", text: "Sign in" }),
  );
  main().replaceChildren(form);
  $("input[name=username]", form).focus();
}

async function onLogin(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const data = new FormData(form);
  try {
    const pair = await api("POST", "/auth/login", {
      form: { username: data.get("username"), password: data.get("password") },
      retry: false,
    });
    tokens.set(pair);
    state.me = null;
    await route();
  } catch (error) {
    $("#login-error").textContent =
      error instanceof ApiError && error.status === 401
        ? "Wrong email or password."
        : errorText(error);
  }
}

async function onLogout() {
  const refresh = tokens.refresh;
  tokens.clear();
  if (refresh) {
    try {
      await api("POST", "/auth/logout", { json: { refresh_token: refresh }, retry: false });
    } catch {
      // The tokens are gone from this tab either way.
    }
  }
  showLogin();
}

// --- start ---------------------------------------------------------------------

whenSessionEnds(showLogin);

document.addEventListener("DOMContentLoaded", () => {
  $("#logout").addEventListener("click", onLogout);
  window.addEventListener("hashchange", route);
  route();
});
