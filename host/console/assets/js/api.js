// The API client: every call goes to /api/v1 on this origin, with the
// session cookie, and every change carries the session's CSRF token.

export const session = { name: null, role: null, csrf: null };

const RANK = { viewer: 0, operator: 1, admin: 2 };

/** Whether the signed-in token has at least `role`. */
export function can(role) {
  return session.role !== null && RANK[session.role] >= RANK[role];
}

export class ApiError extends Error {
  constructor(status, body) {
    const err = body && body.error ? body.error : null;
    super(err ? err.message : `HTTP ${status}`);
    this.status = status;
    this.code = err ? err.code : 'http';
    this.details = err ? err.details : null;
    this.problems = err && err.details && err.details.problems ? err.details.problems : [];
  }
}

let onSignedOut = () => {};
export function whenSignedOut(fn) { onSignedOut = fn; }

function headers(method, type) {
  const out = {};
  if (type) out['Content-Type'] = type;
  if (method !== 'GET' && session.csrf) out['X-Baton-CSRF'] = session.csrf;
  return out;
}

async function parse(r) {
  if (r.status === 204) return null;
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  return data;
}

/**
 * Call the API. `body` is JSON unless it is a string (sent as `type`,
 * YAML by default) or a Blob.
 */
export async function api(method, path, body, { type, quiet } = {}) {
  let payload = body;
  let contentType = type;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Blob)) {
    payload = JSON.stringify(body);
    contentType = 'application/json';
  } else if (typeof body === 'string' && !contentType) {
    contentType = 'application/yaml';
  }
  const r = await fetch(`/api/v1${path}`, {
    method, body: payload, headers: headers(method, contentType), credentials: 'same-origin', cache: 'no-store',
  });
  const data = await parse(r);
  if (!r.ok) {
    if (r.status === 401 && !quiet) onSignedOut();
    throw new ApiError(r.status, data);
  }
  return data;
}

/** Upload bytes with progress (fetch cannot report upload progress). */
export function upload(path, file, type, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/v1${path}`);
    for (const [k, v] of Object.entries(headers('POST', type))) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener('progress', (e) => e.lengthComputable && onProgress(e.loaded / e.total));
    xhr.addEventListener('load', () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      if (xhr.status >= 200 && xhr.status < 300) resolve({ status: xhr.status, data });
      else reject(new ApiError(xhr.status, data));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, { error: { code: 'network', message: 'the upload did not reach the server' } })));
    xhr.send(file);
  });
}

export async function signIn(token) {
  const data = await api('POST', '/session', { token }, { quiet: true });
  Object.assign(session, data);
  return data;
}

export async function restore() {
  try {
    const data = await api('GET', '/session', undefined, { quiet: true });
    Object.assign(session, data);
    return true;
  } catch (e) {
    if (e.status === 401) return false;
    throw e;
  }
}

export async function signOut() {
  await fetch('/api/v1/session', { method: 'DELETE', credentials: 'same-origin' });
  Object.assign(session, { name: null, role: null, csrf: null });
}

export const enc = encodeURIComponent;
