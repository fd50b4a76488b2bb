// Times, durations and rates as the dashboard shows them.

const pad = (n) => String(n).padStart(2, "0");

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`
  );
}

export function fmtRelative(iso) {
  if (!iso) return "";
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const abs = Math.abs(seconds);
  let text;
  if (abs < 60) text = `${Math.round(abs)} s`;
  else if (abs < 3600) text = `${Math.round(abs / 60)} min`;
  else if (abs < 86400 * 2) text = `${Math.round(abs / 360) / 10} h`;
  else text = `${Math.round(abs / 86400)} days`;
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

// A fire time as the API gives it, in the trigger's own zone: "Mon 2027-01-04 03:00:00".
export function fmtFire(iso, zone) {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})?$/.exec(iso);
  if (!match) return iso;
  const weekday = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][
    new Date(`${match[1]}T00:00:00Z`).getUTCDay()
  ];
  const offset = !match[3] || match[3] === "Z" || match[3] === "+00:00" ? "" : ` (${match[3]})`;
  return `${weekday} ${match[1]} ${match[2]} ${zone || "UTC"}${offset}`;
}

export function fmtRate(rate) {
  return rate === null || rate === undefined ? "—" : `${Number(rate).toFixed(rate % 1 ? 1 : 0)}%`;
}
