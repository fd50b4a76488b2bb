// The task API over fetch, with the bearer tokens kept in this tab's sessionStorage.

const API = "/api/v1";

// What to do when the API says the session is over; the entry module sets it, so this
// module needs nothing from the views.
let onSessionEnd = () => {};

export function whenSessionEnds(handler) {
  onSessionEnd = handler;
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

export const tokens = {
  get access() {
    return sessionStorage.getItem("access_token");
  },
  get refresh() {
    return sessionStorage.getItem("refresh_token");
  },
  set(pair) {
    sessionStorage.setItem("access_token", pair.access_token);
    sessionStorage.setItem("refresh_token", pair.refresh_token);
  },
  clear() {
    sessionStorage.removeItem("access_token");
    sessionStorage.removeItem("refresh_token");
  },
};

export async function api(method, path, { json, form, query, retry = true } = {}) {
  const headers = { Accept: "application/json" };
  if (tokens.access) headers.Authorization = `Bearer ${tokens.access}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = new URLSearchParams(form);
  }
  let url = API + path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") params.set(key, value);
  }
  if ([...params].length) url += `?${params}`;
  const response = await fetch(url, { method, headers, body });
  if (response.status === 401 && retry && tokens.refresh && (await refreshTokens())) {
    return api(method, path, { json, form, query, retry: false });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text };
    }
  }
  if (response.status === 401 && !path.startsWith("/auth/")) {
    tokens.clear();
    onSessionEnd("Your session has ended; please sign in again.");
    throw new ApiError(401, data?.detail);
  }
  if (!response.ok) throw new ApiError(response.status, data ? data.detail : null);
  return data;
}

// One refresh at a time: the views load several things at once, and presenting the
// same refresh token twice counts as reuse, which revokes the whole session.
let refreshing = null;

function refreshTokens() {
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const pair = await api("POST", "/auth/refresh", {
          json: { refresh_token: tokens.refresh },
          retry: false,
        });
        tokens.set(pair);
        return true;
      } catch {
        return false;
      }
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

export function errorText(error) {
  if (!(error instanceof ApiError)) return String(error?.message ? error.message : error);
  if (typeof error.detail === "string") return error.detail;
  if (Array.isArray(error.detail)) {
    return error.detail.map((e) => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("; ");
  }
  return error.message;
}
