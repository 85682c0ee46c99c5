/* fedspawner launch form: live availability (plain ES2019, no build step).
 *
 * Long-polls the hub's availability endpoint and updates labels, disabled states and the
 * cluster table in place; re-applies the choice rules when the profile or cluster changes.
 * The rules are launch_form_rules.js (launchRules), which form.py inlines before this file
 * inside one function; they are tested against form.py's. It never changes what the user
 * picked: an option that becomes impossible while selected stays selected (and enabled, so
 * it is submitted), with a warning.
 */
(function () {
  "use strict";
  var root = document.getElementById("fedspawner-form");
  if (!root || root.getAttribute("data-live") === "1") { return; }
  root.setAttribute("data-live", "1");

  var data = JSON.parse(document.getElementById("fs-data").textContent);
  var rules = launchRules(data.consts);
  var form = root.closest("form");
  var clusterSel = document.getElementById("fs-cluster");
  var gpuSel = document.getElementById("fs-gpu-type");
  var countInput = document.getElementById("fs-gpu-count");
  var countHint = document.getElementById("fs-gpu-count-hint");
  var live = document.getElementById("fs-live");
  var updated = document.getElementById("fs-updated");
  var STORE = "fedspawner-launch-form";
  var payload = data.availability;
  var shownRows = [];  // the GPU rows last rendered (for this payload, profile and cluster)
  var gpuDirty = false;
  var stopped = false;

  function currentProfile() {
    var checked = root.querySelector('input[name="profile"]:checked');
    if (!checked) { return null; }
    for (var i = 0; i < data.profiles.length; i++) {
      if (data.profiles[i].slug === checked.value) { return data.profiles[i]; }
    }
    return null;
  }

  // ---- the page ---------------------------------------------------------------
  function announce(text, isError) {
    live.classList.toggle("fs-error", !!isError);
    live.textContent = text;
  }

  // Same-origin cookies authenticate the request; JupyterHub also wants its XSRF token on fetches.
  function xsrfToken() {
    if (window.jhdata && window.jhdata.xsrf_token) { return window.jhdata.xsrf_token; }
    try {
      var fromForm = form ? new URL(form.action, window.location.href).searchParams.get("_xsrf") : null;
      if (fromForm) { return fromForm; }
    } catch (e) { /* no usable form action */ }
    var m = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function showUpdated(seconds, failing) {
    var text = seconds ? "Free counts as of " + stamp(seconds) + "." : "";
    if (failing) { text += " Live updates are failing; retrying."; }
    updated.textContent = text;
    updated.classList.toggle("fs-stale", !!failing);
  }

  function stamp(seconds) {
    var d = seconds ? new Date(seconds * 1000) : new Date();
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }

  function findOption(select, value) {
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === value) { return select.options[i]; }
    }
    return null;
  }

  // Update a select's options in place from rows ({value, label, reason}); keep the selection.
  function syncOptions(select, rows) {
    var current = select.value;
    var wanted = {};
    rows.forEach(function (row, i) {
      wanted[row.value] = true;
      var opt = findOption(select, row.value);
      if (!opt) {
        opt = document.createElement("option");
        opt.value = row.value;
        var next = null;
        for (var j = i + 1; j < rows.length && !next; j++) { next = findOption(select, rows[j].value); }
        select.insertBefore(opt, next);
      }
      setOption(opt, row.label, row.reason, current);
    });
    Array.prototype.slice.call(select.options).forEach(function (opt) {
      if (wanted[opt.value]) { return; }
      if (opt.value === current) {
        var base = opt.textContent.split(" — ")[0];
        setOption(opt, base + " — no longer offered", "no longer offered", current);
      } else {
        select.removeChild(opt);
      }
    });
    if (select.value !== current) { select.value = current; }
  }

  function setOption(opt, label, reason, current) {
    if (opt.textContent !== label) { opt.textContent = label; }
    opt.disabled = !!reason && opt.value !== current;
    if (reason) { opt.setAttribute("data-reason", reason); } else { opt.removeAttribute("data-reason"); }
  }

  function showWarning(id, reason) {
    var el = document.getElementById(id);
    el.textContent = reason ? "Your choice is not possible now: " + reason + "." : "";
    el.hidden = !reason;
  }

  function renderTable(rows) {
    var body = root.querySelector("#fs-cluster-table tbody");
    var frag = document.createDocumentFragment();
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-cluster", row.name);
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = row.display_name;
      var where = document.createElement("div");
      where.className = "fs-where";
      where.textContent = row.where;
      th.appendChild(where);
      var state = document.createElement("td");
      state.className = "fs-state " + (row.ok ? "fs-ok" : "fs-bad");
      state.textContent = row.status;
      var g = document.createElement("td");
      g.className = "fs-gpus";
      row.gpus.forEach(function (line) {
        var div = document.createElement("div");
        div.textContent = line;
        g.appendChild(div);
      });
      tr.appendChild(th);
      tr.appendChild(state);
      tr.appendChild(g);
      frag.appendChild(tr);
    });
    while (body.firstChild) { body.removeChild(body.firstChild); }
    body.appendChild(frag);
  }

  function rowFor(rows, value) {
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].value === value) { return rows[i]; }
    }
    return null;
  }

  // Bring labels, states, limits and warnings in line with the payload and the choices; the
  // table too with `withTable` (it depends on the payload and the profile, not on the selects).
  function render(withTable) {
    var p = currentProfile();
    var clusters = payload.clusters || [];
    var cRows = rules.clusterRows(clusters, p);
    syncOptions(clusterSel, cRows);
    var rows = rules.gpuRows(clusters, p, clusterSel.value);
    if (!rowFor(rows, gpuSel.value)) {
      var missing = findOption(gpuSel, gpuSel.value);
      rows.push(rules.missingRow(gpuSel.value, missing ? missing.textContent.split(" — ")[0] : gpuSel.value));
    }
    syncOptions(gpuSel, rows);
    var row = rowFor(rows, gpuSel.value);
    var limits = rules.countLimits(row);
    countInput.max = String(limits.max);
    if (countHint.textContent !== limits.hint) { countHint.textContent = limits.hint; }
    countInput.disabled = gpuSel.value === "";
    var cRow = rowFor(cRows, clusterSel.value);
    showWarning("fs-cluster-warning", cRow ? cRow.reason : "");
    showWarning("fs-gpu-warning", row ? row.reason : "");
    if (withTable) { renderTable(rules.tableRows(clusters, p)); }
    shownRows = rows;
  }

  // What changed between two payloads that matters to this user, in words.
  function changes(before, after, oldRow, newRow) {
    var msgs = [];
    (after.clusters || []).forEach(function (c) {
      var old = rules.findCluster(before.clusters || [], c.name);
      if (!old || old.usable === c.usable) { return; }
      msgs.push(c.usable ? c.display_name + " is available again." : c.display_name + ": " + c.reason + ".");
    });
    if (gpuSel.value !== "" && oldRow && newRow && oldRow.label !== newRow.label) { msgs.push(newRow.label + "."); }
    return msgs.join(" ");
  }

  // Show a new payload; returns what changed for this user, in words ("" if nothing worth saying).
  function apply(next) {
    var before = payload;
    var oldRow = rowFor(shownRows, gpuSel.value);
    payload = next;
    render(true);
    var said = changes(before, next, oldRow, rowFor(shownRows, gpuSel.value));
    return said ? "Availability changed: " + said : "";
  }

  function profileDefaults(p) {
    return {type: p && p.gpu_type ? p.gpu_type : "", count: p && p.gpu_type ? p.gpu_count : 0};
  }

  function computeDirty() {
    var d = profileDefaults(currentProfile());
    gpuDirty = !(gpuSel.value === d.type && Number(countInput.value || 0) === d.count);
  }

  function syncProfileOptions() {
    var p = currentProfile();
    Array.prototype.forEach.call(root.querySelectorAll(".fs-profile-option"), function (box) {
      var mine = !!p && box.getAttribute("data-profile") === p.slug;
      var select = box.querySelector(".fs-po-select");
      var other = box.querySelector(".fs-po-other");
      select.disabled = !mine;
      var unlisted = select.value === "unlisted-choice";
      if (unlisted) { select.removeAttribute("name"); } else { select.setAttribute("name", select.getAttribute("data-name")); }
      if (other) {
        other.disabled = !mine;
        other.parentNode.hidden = !unlisted;
        if (unlisted) { other.setAttribute("name", other.getAttribute("data-name")); } else { other.removeAttribute("name"); }
        other.required = mine && unlisted;
      }
    });
  }

  function setGpu(type, count) {
    if (!findOption(gpuSel, type)) {
      var opt = document.createElement("option");
      opt.value = type;
      opt.textContent = type;
      gpuSel.appendChild(opt);
    }
    gpuSel.value = type;
    countInput.value = String(count);
  }

  // The profile's GPU, unless the user chose one; what changed, in words.
  function applyProfileGpu() {
    var d = profileDefaults(currentProfile());
    if (gpuDirty || (gpuSel.value === d.type && Number(countInput.value || 0) === d.count)) { return ""; }
    setGpu(d.type, d.count);
    return d.type ? "GPU set to " + d.count + " × " + gpuSel.options[gpuSel.selectedIndex].textContent
      .split(" — ")[0] + " by the profile." : "GPU set to none.";
  }

  function onProfile() {
    var p = currentProfile();
    syncProfileOptions();
    var msgs = [applyProfileGpu()];
    render(true);
    if (p && p.allowed) {
      var names = p.allowed.map(function (n) {
        var c = rules.findCluster(payload.clusters || [], n);
        return c ? c.display_name : n;
      });
      msgs.push("This profile runs only on " + names.join(", ") + ".");
    }
    var said = msgs.filter(function (m) { return m; }).join(" ");
    if (said) { announce(said); }
  }

  root.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t.name === "profile") {
      onProfile();
    } else if (t === clusterSel) {
      render(false);
    } else if (t === gpuSel) {
      if (gpuSel.value === "") {
        countInput.value = "0";
      } else if (Number(countInput.value || 0) < 1) {
        countInput.value = "1";
      }
      computeDirty();
      render(false);
    } else if (t === countInput) {
      computeDirty();
    } else if (t.classList && t.classList.contains("fs-po-select")) {
      syncProfileOptions();
    }
  });
  countInput.addEventListener("input", computeDirty);

  // ---- keep what was asked when the hub sends the form back with an error -----
  function choices() {
    var checked = root.querySelector('input[name="profile"]:checked');
    return {profile: checked ? checked.value : null, cluster: clusterSel.value, gpu_type: gpuSel.value,
      gpu_count: countInput.value};
  }

  // Re-select what was asked where the rules still allow it (nothing is rendered here).
  function restore(saved) {
    var radios = root.querySelectorAll('input[name="profile"]');
    for (var i = 0; i < radios.length; i++) {
      if (radios[i].value === saved.profile && !radios[i].checked) {
        radios[i].checked = true;
        gpuDirty = false;
        syncProfileOptions();
        applyProfileGpu();
      }
    }
    var p = currentProfile();
    var clusters = payload.clusters || [];
    var c = rowFor(rules.clusterRows(clusters, p), saved.cluster);
    if (c && (!c.reason || clusterSel.value === saved.cluster)) { clusterSel.value = saved.cluster; }
    var g = rowFor(rules.gpuRows(clusters, p, clusterSel.value), saved.gpu_type);
    if (g && (!g.reason || gpuSel.value === saved.gpu_type)) {
      gpuSel.value = saved.gpu_type;
      countInput.value = saved.gpu_count;
    }
  }

  if (form) {
    form.addEventListener("submit", function () {
      stopped = true;
      try { window.sessionStorage.setItem(STORE, JSON.stringify(choices())); } catch (e) { /* private mode */ }
    });
  }
  window.addEventListener("pagehide", function () { stopped = true; });
  window.addEventListener("pageshow", function (ev) {
    if (ev.persisted && stopped) { stopped = false; poll(); }  // back from the browser's page cache
  });

  var errorBox = document.querySelector(".spawn-error-msg");
  var saved = null;
  try {
    saved = JSON.parse(window.sessionStorage.getItem(STORE) || "null");
    window.sessionStorage.removeItem(STORE);
  } catch (e) { saved = null; }
  syncProfileOptions();
  if (errorBox && saved) { restore(saved); }
  render(true);
  computeDirty();
  if (errorBox) {
    errorBox.setAttribute("role", "alert");
    errorBox.tabIndex = -1;
    errorBox.focus();
  }

  // ---- long-poll ----------------------------------------------------------------
  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  // The availability once this user's view differs from `payload.version` (the hub holds the request
  // up to `wait` seconds; its version is a hash of what this user sees), or now with wait 0.
  async function fetchOnce(wait) {
    var url = data.endpoint + "?since=" + encodeURIComponent(payload.version) + "&wait=" + wait;
    var ctrl = typeof AbortController === "function" ? new AbortController() : null;
    var timer = ctrl ? setTimeout(function () { ctrl.abort(); }, 35000) : null;
    var resp;
    try {
      resp = await fetch(url, {credentials: "same-origin", cache: "no-store",
        headers: {"Accept": "application/json", "X-XSRFToken": xsrfToken()}, signal: ctrl ? ctrl.signal : undefined});
    } catch (err) {
      throw new Error(err && err.name === "AbortError" ? "no answer in 35 s" : "the hub cannot be reached");
    } finally {
      if (timer) { clearTimeout(timer); }
    }
    if (!resp.ok) { throw new Error("the hub answered " + resp.status); }
    if ((resp.headers.get("Content-Type") || "").indexOf("json") < 0) {
      throw new Error(resp.redirected ? "you seem to be logged out" : "unexpected answer");
    }
    var next = await resp.json();
    if (!next || !next.clusters) { throw new Error("unexpected answer"); }
    return next;
  }

  async function poll() {
    var failures = 0;
    while (!stopped) {
      var started = Date.now();
      try {
        var next = await fetchOnce(failures ? 0 : 20);  // after a failure: the state now, not the next change
        if (stopped) { return; }
        var msgs = [failures ? "Live availability is back." : ""];
        failures = 0;
        if (next.version !== payload.version) { msgs.push(apply(next)); } else { payload.taken_at = next.taken_at; }
        var said = msgs.filter(function (m) { return m; }).join(" ");
        if (said) { announce(said); }
        showUpdated(next.taken_at, false);
        if (Date.now() - started < 1000) { await sleep(1000); }
      } catch (err) {
        if (stopped) { return; }
        failures += 1;
        var delay = Math.min(30, Math.pow(2, failures));
        announce("Availability unavailable (" + err.message + "); retrying in " + delay +
          " s. The numbers shown may be out of date.", true);
        showUpdated(payload.taken_at, true);
        await sleep(delay * 1000);
      }
    }
  }

  showUpdated(payload.taken_at, false);
  poll();
})();
