// The workstation's API from the browser: the session cookie goes along by itself; every request
// that changes something carries the CSRF token the login gave (double submit).
function csrf() {
  const m = document.cookie.match(/(?:^|; )spinefuse_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
  }
}

export async function api(path, { method = "GET", body, form } = {}) {
  const headers = {};
  if (method !== "GET") headers["X-CSRF-Token"] = csrf();
  let payload;
  if (form) payload = form;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const r = await fetch(`/api${path}`, { method, headers, body: payload, credentials: "same-origin" });
  const type = r.headers.get("content-type") || "";
  const data = type.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new ApiError(r.status, data && data.detail !== undefined ? data.detail : data);
  return data;
}

// Follow a job by server-sent events until it ends; onProgress gets each state. A reload simply
// opens the stream again: the job lives on the server.
export function followJob(jobId, onProgress) {
  return new Promise((resolve) => {
    const es = new EventSource(`/api/jobs/${jobId}/events`);
    es.addEventListener("progress", (e) => onProgress(JSON.parse(e.data)));
    es.addEventListener("end", (e) => {
      es.close();
      resolve(JSON.parse(e.data || "{}"));
    });
    es.onerror = () => {
      es.close();
      setTimeout(() => followJob(jobId, onProgress).then(resolve), 1000);
    };
  });
}
