import { state } from "./state.js";

// Each role may do what the ones before it may. The page only offers what the
// signed-in user's role allows; the API enforces it either way.
const ROLES = ["viewer", "operator", "admin"];

export function roleOf(me) {
  return me?.is_superuser ? "admin" : me?.role || null;
}

export function may(needed) {
  return state.role !== null && ROLES.indexOf(state.role) >= ROLES.indexOf(needed);
}
