// scraperq console: actions through the JSON API, panels refreshed from the server, times in the viewer's zone.
// No library and nothing inline (the page's Content-Security-Policy allows scripts from this origin only).
"use strict";

(function () {
  const TOKEN_KEY = "scraperq-token";
  const meta = document.querySelector('meta[name="scraperq-token"]');
  if (meta) {
    // The page was opened with the token (basic authentication): the API calls send it as a bearer token.
    sessionStorage.setItem(TOKEN_KEY, meta.content);
    meta.remove();
  }
  const refreshMeta = document.querySelector('meta[name="scraperq-refresh"]');
  const REFRESH_MS = 1000 * Number(refreshMeta ? refreshMeta.content : 4);
  const state = new URLSearchParams(location.search);
  const live = document.querySelector("[data-live]");
  const flashBox = document.querySelector("[data-flash]");
  let flashTimer = null;

  function headers(extra) {
    const h = Object.assign({}, extra || {});
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) h.Authorization = "Bearer " + token;
    return h;
  }

  class ApiError extends Error {
    constructor(message, details) {
      super(message);
      this.details = details || [];
    }
  }

  async function api(method, path, body) {
    const init = { method: method, headers: headers({ Accept: "application/json" }), credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const message = data && data.error ? data.error : method + " " + path + ": HTTP " + response.status;
      throw new ApiError(message, data && data.details);
    }
    return data;
  }

  function flash(message, bad, details) {
    flashBox.textContent = message;
    flashBox.classList.toggle("bad", !!bad);
    const repeated = details && details.length === 1 && message.indexOf(details[0].error) >= 0;
    if (details && details.length && !repeated) {
      const list = document.createElement("ul");
      for (const d of details) {
        const item = document.createElement("li");
        item.textContent = d.field + ": " + d.error;
        list.appendChild(item);
      }
      flashBox.appendChild(list);
    }
    flashBox.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(function () { flashBox.hidden = true; }, bad ? 9000 : 4000);
  }

  // -- times ---------------------------------------------------------------------------------

  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const two = function (n) { return String(n).padStart(2, "0"); };

  function localText(date) {
    const now = new Date();
    const clock = two(date.getHours()) + ":" + two(date.getMinutes()) + ":" + two(date.getSeconds());
    if (date.toDateString() === now.toDateString()) return clock;
    return two(date.getMonth() + 1) + "-" + two(date.getDate()) + " " + clock.slice(0, 5);
  }

  function localize(root) {
    for (const el of root.querySelectorAll("time[datetime]")) {
      const date = new Date(el.getAttribute("datetime"));
      if (isNaN(date)) continue;
      if (el.classList.contains("viewer")) {
        el.textContent = "your time: " + localText(date) + " (" + zone + ")";
      } else {
        el.textContent = localText(date);
      }
    }
  }

  // -- panels --------------------------------------------------------------------------------

  function partQuery(name) {
    const q = new URLSearchParams(state);
    q.set("part", name);
    return "/?" + q.toString();
  }

  async function refresh(name) {
    const holder = document.getElementById("part-" + name);
    if (!holder) return;
    const response = await fetch(partQuery(name), { headers: headers({ Accept: "text/html" }), credentials: "same-origin" });
    if (!response.ok) {
      let message = "HTTP " + response.status;
      try { message = (await response.json()).error; } catch (e) { /* not JSON */ }
      throw new ApiError(message);
    }
    const html = await response.text();
    const oldPre = holder.querySelector("pre.log");
    const oldStats = holder.querySelector("[data-log-stats]");
    const oldLog = oldPre && {
      logFor: oldPre.dataset.logFor,
      active: oldPre.dataset.active,
      loaded: oldPre.dataset.loaded,
      text: oldPre.textContent,
      scrollTop: oldPre.scrollTop,
      atBottom: oldPre.scrollTop + oldPre.clientHeight >= oldPre.scrollHeight - 4,
      stats: oldStats ? oldStats.textContent : "",
    };
    holder.innerHTML = html;
    localize(holder);
    if (name === "job") {
      const pre = holder.querySelector("pre.log");
      if (pre && oldLog && oldLog.logFor === pre.dataset.logFor) {
        // The same job: keep what is shown and where the reader is; read the log again only while it grows.
        pre.textContent = oldLog.text;
        pre.scrollTop = oldLog.atBottom ? pre.scrollHeight : oldLog.scrollTop;
        const stats = holder.querySelector("[data-log-stats]");
        if (stats) stats.textContent = oldLog.stats;
        if (oldLog.loaded) pre.dataset.loaded = oldLog.loaded;
        if (!oldLog.loaded || pre.dataset.active === "1" || oldLog.active === "1") loadLog(pre);
      } else if (pre) {
        loadLog(pre);
      }
    }
  }

  let busy = false;
  async function refreshAll() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const due = Array.from(document.querySelectorAll("[data-part]")).filter(function (holder) {
        return !(holder.contains(document.activeElement) && document.activeElement !== document.body);
      });
      await Promise.all(due.map(function (holder) { return refresh(holder.dataset.part); }));
      live.classList.remove("stale");
      live.textContent = "live · " + localText(new Date());
    } catch (e) {
      live.classList.add("stale");
      live.textContent = "not updating: " + e.message;
    } finally {
      busy = false;
    }
  }

  function setState(params, part) {
    for (const [key, value] of params) {
      if (value === "" || value === null) state.delete(key);
      else state.set(key, value);
    }
    history.replaceState(null, "", state.toString() ? "?" + state.toString() : location.pathname);
    return refresh(part).catch(function (e) { flash(e.message, true); });
  }

  async function loadLog(shown) {
    const id = shown.dataset.logFor;
    // The panel may be drawn again while the log is on its way: write into the one on the page then.
    const current = function () { return document.querySelector('pre.log[data-log-for="' + id + '"]'); };
    let pre = shown;
    try {
      const log = await api("GET", "/api/jobs/" + id + "/log");
      pre = current();
      if (!pre) return;
      const stats = pre.parentElement.querySelector("[data-log-stats]");
      pre.dataset.loaded = "1";
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.textContent = log.text || "(the log is empty)";
      if (atBottom) pre.scrollTop = pre.scrollHeight;
      if (stats && log.stats) {
        const s = log.stats;
        const parts = [];
        const pick = [["pages", "response_received_count"], ["items", "item_scraped_count"],
          ["errors", "log_count/ERROR"], ["requests", "downloader/request_count"], ["seconds", "elapsed_time_seconds"]];
        for (const [label, key] of pick) if (key in s) parts.push(label + " " + s[key]);
        stats.textContent = parts.length ? "From the crawl's stats: " + parts.join(" · ") : "";
      }
    } catch (e) {
      pre = current();
      if (pre) {
        pre.dataset.loaded = "1";
        pre.textContent = "No log: " + e.message;
      }
    }
  }

  // -- actions -------------------------------------------------------------------------------

  function pairs(text, what) {
    const out = {};
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (!line) continue;
      const at = line.indexOf("=");
      if (at < 1) throw new ApiError(what + ": write each line as name=value (got " + JSON.stringify(line) + ")");
      out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    return out;
  }

  let editing = null; // the schedule being edited: its values as loaded

  async function submitUrls(form) {
    const urls = form.urls.value.split("\n").map(function (u) { return u.trim(); }).filter(Boolean);
    const body = { urls: urls, spider: form.spider.value, priority: Number(form.priority.value || 0) };
    const created = await api("POST", "/api/tasks", body);
    form.urls.value = "";
    flash("Queued " + created.task_ids.length + " URL" + (created.task_ids.length === 1 ? "" : "s") +
      " for " + created.spider + " (tasks " + created.task_ids.join(", ") + ")");
    await setState([["tasks_status", ""], ["tasks_spider", ""], ["tasks_before", ""]], "tasks");
  }

  function scheduleBody(form) {
    const body = { spider: form.spider.value };
    const cron = form.cron.value.trim();
    const every = form.interval_seconds.value.trim();
    if (cron) {
      body.cron = cron;
      body.timezone = form.timezone.value.trim() || "UTC";
    }
    if (every) body.interval_seconds = Number(every);
    body.args = pairs(form.args.value, "spider arguments");
    body.settings = pairs(form.settings.value, "settings");
    return body;
  }

  function resetScheduleForm(form) {
    editing = null;
    form.reset();
    form.name.readOnly = false;
    form.querySelector("[data-submit-label]").textContent = "Add schedule";
    form.querySelector('[data-action="schedule-edit-cancel"]').hidden = true;
  }

  async function saveSchedule(form) {
    const body = scheduleBody(form);
    if (editing) {
      const name = editing.name;
      // Arguments and settings are merged: what was removed from the text is sent as null.
      for (const key of ["args", "settings"]) {
        for (const old of Object.keys(editing[key] || {})) if (!(old in body[key])) body[key][old] = null;
      }
      if (!body.cron && !body.interval_seconds) throw new ApiError("give a cron expression or an interval");
      await api("PATCH", "/api/schedules/" + encodeURIComponent(name), body);
      flash("Saved schedule " + name);
    } else {
      body.name = form.name.value.trim();
      body.enabled = !form.paused.checked;
      if (!body.cron) delete body.timezone;
      const created = await api("POST", "/api/schedules", body);
      flash("Added schedule " + created.name + (created.next_fire_time ? "; next run " + localText(new Date(created.next_fire_time)) : ""));
    }
    resetScheduleForm(form);
    await refresh("schedules");
  }

  function editSchedule(values) {
    const form = document.querySelector('[data-form="schedule"]');
    resetScheduleForm(form);
    editing = values;
    form.closest("details").open = true;
    form.name.value = values.name;
    form.name.readOnly = true;
    form.spider.value = values.spider;
    form.cron.value = values.cron || "";
    form.timezone.value = values.cron ? values.timezone : "";
    form.interval_seconds.value = values.interval_seconds || "";
    form.args.value = Object.entries(values.args || {}).map(function (kv) { return kv[0] + "=" + kv[1]; }).join("\n");
    form.settings.value = Object.entries(values.settings || {}).map(function (kv) { return kv[0] + "=" + kv[1]; }).join("\n");
    form.paused.checked = !values.enabled;
    form.querySelector("[data-submit-label]").textContent = "Save " + values.name;
    form.querySelector('[data-action="schedule-edit-cancel"]').hidden = false;
    form.scrollIntoView({ block: "center" });
    form.cron.focus();
  }

  const ACTIONS = {
    "schedule-run": async function (d) {
      const started = await api("POST", "/api/schedules/" + encodeURIComponent(d.name) + "/run");
      flash("Run of " + d.name + " requested (job run " + started.run.id + ")");
      await Promise.all([refresh("schedules"), refresh("jobs")]);
    },
    "schedule-pause": async function (d) {
      await api("PATCH", "/api/schedules/" + encodeURIComponent(d.name), { enabled: false });
      flash("Paused " + d.name);
      await refresh("schedules");
    },
    "schedule-resume": async function (d) {
      await api("PATCH", "/api/schedules/" + encodeURIComponent(d.name), { enabled: true });
      flash("Resumed " + d.name);
      await refresh("schedules");
    },
    "schedule-edit": async function (d) { editSchedule(JSON.parse(d.schedule)); },
    "schedule-edit-cancel": async function () { resetScheduleForm(document.querySelector('[data-form="schedule"]')); },
    "schedule-remove": async function (d) {
      if (!confirm("Remove schedule " + d.name + "? Its run history stays.")) return;
      await api("DELETE", "/api/schedules/" + encodeURIComponent(d.name));
      flash("Removed " + d.name);
      await refresh("schedules");
    },
    "job-cancel": async function (d) {
      if (!confirm("Cancel job run " + d.id + "?")) return;
      const done = await api("POST", "/api/jobs/" + d.id + "/cancel");
      flash("Job run " + d.id + " cancelled" + (done.node ? " on " + done.node : ""));
      await Promise.all([refresh("jobs"), refresh("job")]);
    },
    "job-log": async function (d) { await showJob(d.id); },
    "job-close": async function () { await setState([["job", ""]], "job"); },
    "dead-requeue": async function (d) {
      const done = await api("POST", "/api/dead", { action: "requeue", spider: d.spider });
      flash("Requeued " + done.done + " dead letter" + (done.done === 1 ? "" : "s") + " of " + d.spider);
      await Promise.all([refresh("queues"), refresh("summary")]);
    },
    "dead-purge": async function (d) {
      if (!confirm("Delete every dead letter of " + d.spider + "?")) return;
      const done = await api("POST", "/api/dead", { action: "purge", spider: d.spider });
      flash("Purged " + done.done + " dead letter" + (done.done === 1 ? "" : "s") + " of " + d.spider);
      await Promise.all([refresh("queues"), refresh("summary")]);
    },
  };

  async function showJob(id) {
    await setState([["job", String(id)]], "job");
    const panel = document.getElementById("part-job");
    if (panel) panel.scrollIntoView({ block: "start" });
  }

  async function exportResults(link) {
    const response = await fetch(link.getAttribute("href"), { headers: headers(), credentials: "same-origin" });
    if (!response.ok) throw new ApiError("export failed: HTTP " + response.status);
    const blob = await response.blob();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "results." + link.dataset.export;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(a.href); }, 10000);
  }

  async function guarded(el, work) {
    if (el) el.disabled = true;
    try {
      await work();
    } catch (e) {
      flash(e.message, true, e.details);
    } finally {
      if (el) el.disabled = false;
    }
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-action]");
    if (button && ACTIONS[button.dataset.action]) {
      event.preventDefault();
      guarded(button, function () { return ACTIONS[button.dataset.action](button.dataset); });
      return;
    }
    const pager = event.target.closest("a[data-part-link]");
    if (pager) {
      event.preventDefault();
      const target = new URLSearchParams(pager.getAttribute("href").slice(1));
      const part = pager.dataset.partLink;
      const keys = new Set(Array.from(target.keys()).concat(Array.from(state.keys()).filter(function (k) { return k.startsWith(part + "_"); })));
      guarded(null, function () { return setState(Array.from(keys).map(function (k) { return [k, target.get(k) || ""]; }), part); });
      return;
    }
    const job = event.target.closest("a[data-job]");
    if (job) {
      event.preventDefault();
      guarded(null, function () { return showJob(job.dataset.job); });
      return;
    }
    const exported = event.target.closest("a[data-export]");
    if (exported) {
      event.preventDefault();
      guarded(null, function () { return exportResults(exported); });
    }
  });

  document.addEventListener("submit", function (event) {
    const form = event.target;
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    if (form.dataset.form === "submit") guarded(button, function () { return submitUrls(form); });
    else if (form.dataset.form === "schedule") guarded(button, function () { return saveSchedule(form); });
    else if (form.dataset.filters) applyFilters(form);
  });

  function applyFilters(form) {
    const part = form.dataset.filters;
    const values = Array.from(new FormData(form).entries()).map(function (kv) { return [kv[0], String(kv[1]).trim()]; });
    values.push([part + "_before", ""]);
    guarded(null, function () { return setState(values, part); });
  }

  document.addEventListener("change", function (event) {
    const form = event.target.closest("form[data-filters]");
    if (form) applyFilters(form);
  });

  // -- start ---------------------------------------------------------------------------------

  const zones = document.getElementById("zones");
  if (zones && Intl.supportedValuesOf) {
    for (const name of Intl.supportedValuesOf("timeZone")) {
      const option = document.createElement("option");
      option.value = name;
      zones.appendChild(option);
    }
  }
  const tz = document.querySelector('[data-form="schedule"] input[name="timezone"]');
  if (tz) tz.placeholder = zone;
  localize(document);
  const firstLog = document.querySelector("pre.log");
  if (firstLog) loadLog(firstLog);
  live.textContent = "live · " + localText(new Date());
  setInterval(refreshAll, REFRESH_MS);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refreshAll(); });
})();
