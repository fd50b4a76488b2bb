// The page a password-reset email links to: it takes the token from `?token=` and
// posts the new password to the reset endpoint. Text from the API goes into the page
// through textContent only.

const CONFIRM = "/api/v1/auth/password-reset/confirm";
const MIN_LENGTH = 8;

const form = document.getElementById("reset-form");
const done = document.getElementById("reset-done");
const tokenField = document.getElementById("token-field");
const errors = {
  token: document.getElementById("token-error"),
  new_password: document.getElementById("new-password-error"),
  repeat_password: document.getElementById("repeat-password-error"),
  form: document.getElementById("reset-error"),
};

let token = new URLSearchParams(window.location.search).get("token") || "";
// The token is as good as a password until it is used: keep it out of the address
// bar, the history and anything the page might link to.
if (window.location.search) window.history.replaceState(null, "", window.location.pathname);
if (!token) tokenField.hidden = false;

function clearErrors() {
  for (const el of Object.values(errors)) el.textContent = "";
  for (const el of form.querySelectorAll(".has-error")) el.classList.remove("has-error");
}

function showError(field, message) {
  errors[field].textContent = message;
  if (field !== "form") errors[field].closest(".field").classList.add("has-error");
}

function showServerErrors(status, body, retryAfter) {
  const detail = body?.detail;
  if (status === 422 && Array.isArray(detail)) {
    for (const error of detail) {
      const field =
        error && Array.isArray(error.loc) ? String(error.loc[error.loc.length - 1]) : "";
      if (field === "token") {
        // A refused token is typed in again, not sent again.
        token = "";
        tokenField.hidden = false;
        showError("token", "This reset link is invalid, used or expired. Ask for a new one.");
      } else if (field === "new_password") {
        showError("new_password", String(error.msg || "Not accepted."));
      } else {
        showError("form", String(error?.msg || "The request was not accepted."));
      }
    }
    return;
  }
  if (status === 429) {
    const wait = retryAfter ? ` in ${retryAfter} seconds` : " later";
    showError("form", `Too many attempts; try again${wait}.`);
    return;
  }
  showError("form", typeof detail === "string" ? detail : `The server answered ${status}.`);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  const data = new FormData(form);
  const password = String(data.get("new_password") || "");
  const repeated = String(data.get("repeat_password") || "");
  if (!token) token = String(data.get("token") || "").trim();
  let valid = true;
  if (!token) {
    showError("token", "Paste the token from the reset email.");
    valid = false;
  }
  if (password.length < MIN_LENGTH) {
    showError("new_password", `Use at least ${MIN_LENGTH} characters.`);
    valid = false;
  } else if (password !== repeated) {
    showError("repeat_password", "The two passwords differ.");
    valid = false;
  }
  if (!valid) return;

  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const response = await fetch(CONFIRM, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ token, new_password: password }),
      credentials: "omit",
      cache: "no-store",
    });
    if (response.ok) {
      form.hidden = true;
      done.hidden = false;
      return;
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    showServerErrors(response.status, body, response.headers.get("Retry-After"));
  } catch {
    showError("form", "The server could not be reached; try again.");
  } finally {
    button.disabled = false;
  }
});
