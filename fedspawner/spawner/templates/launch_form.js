/* fedspawner launch form: live availability (plain ES2019, no build step).
 *
 * Long-polls the hub's availability endpoint and updates labels, disabled states and the
 * cluster table in place; re-filters clusters and GPU types when the profile or cluster
 * changes. The choice rules and wording mirror fedspawner/spawner/form.py: change both.
 * It never changes what the user picked: an option that becomes impossible while
 * selected stays selected (and enabled, so it is submitted), with a warning.
 */
(function () {
  "use strict";
  var root = document.getElementById("fedspawner-form");
  if (!root || root.getAttribute("data-live") === "1") { return; }
  root.setAttribute("data-live", "1");

  var data = JSON.parse(document.getElementById("fs-data").textContent);
  var form = root.closest("form");
  var clusterSel = document.getElementById("fs-cluster");
  var gpuSel = document.getElementById("fs-gpu-type");
  var countInput = document.getElementById("fs-gpu-count");
  var countHint = document.getElementById("fs-gpu-count-hint");
  var live = document.getElementById("fs-live");
  var updated = document.getElementById("fs-updated");
  var AUTO = "auto";
  var ANY = "any";
  var PROFILE_REASON = "not allowed by the selected profile";
  var GPU_PROFILE_REASON = "this profile includes a GPU";
  var STORE = "fedspawner-launch-form";
  var payload = data.availability;
  var gpuDirty = false;
  var stopped = false;

  // ---- the rules (as in form.py) ----------------------------------------------
  function currentProfile() {
    var checked = root.querySelector('input[name="profile"]:checked');
    if (!checked) { return null; }
    for (var i = 0; i < data.profiles.length; i++) {
      if (data.profiles[i].slug === checked.value) { return data.profiles[i]; }
    }
    return null;
  }

  function profileAllows(p, name) {
    return !p || !p.allowed || p.allowed.indexOf(name) >= 0;
  }

  function clusterReason(c, p) {
    if (!c.usable) { return c.reason || "unavailable now"; }
    if (!profileAllows(p, c.name)) { return PROFILE_REASON; }
    return "";
  }

  function clusterLabel(c, reason) {
    var parts = [c.display_name || c.name];
    if (c.site) { parts.push(c.site); }
    if (c.owner) { parts.push(c.owner); }
    var label = parts.join(" · ");
    return reason ? label + " — " + reason : label;
  }

  function gpuNotes(c) {
    return c.gpus.map(function (g) {
      var note = g.note || (g.free !== null ? g.free + " free of " + g.total : "up to " + (g.upper_bound || 0) + " free");
      return g.display + ": " + note;
    });
  }

  function clusterStatus(c, p) {
    var reason = clusterReason(c, p);
    if (reason) { return reason.charAt(0).toUpperCase() + reason.slice(1); }
    return c.visibility === "nodes" ? "Up" : "Up (GPU numbers are upper bounds)";
  }

  function amounts(entries) {
    var free = 0;
    var upper = 0;
    var bounded = false;
    entries.forEach(function (g) {
      free += g.free || 0;
      upper += g.free !== null ? g.free : (g.upper_bound || 0);
      if (g.free === null) { bounded = true; }
    });
    return {free: free, upper: upper, bounded: bounded};
  }

  function maxPerNode(pairs) {
    if (!pairs.length) { return {max: null, where: ""}; }
    var best = null;
    for (var i = 0; i < pairs.length; i++) {
      if (pairs[i].g.max_per_node === null) { return {max: null, where: ""}; }
      if (best === null || pairs[i].g.max_per_node > best.g.max_per_node) { best = pairs[i]; }
    }
    return {max: best.g.max_per_node, where: best.c.display_name};
  }

  function findCluster(clusters, name) {
    for (var i = 0; i < clusters.length; i++) {
      if (clusters[i].name === name) { return clusters[i]; }
    }
    return null;
  }

  function eligible(clusters, p, chosen) {
    if (chosen !== AUTO) {
      var sel = findCluster(clusters, chosen);
      if (!sel) { return {list: [], reason: "that cluster is not a member"}; }
      var reason = clusterReason(sel, p);
      return reason ? {list: [], reason: sel.display_name + " is " + reason} : {list: [sel], reason: ""};
    }
    return {list: clusters.filter(function (c) { return !clusterReason(c, p); }), reason: ""};
  }

  function pairsOf(list, type) {
    var out = [];
    list.forEach(function (c) {
      c.gpus.forEach(function (g) {
        if (type === null || g.type === type) { out.push({c: c, g: g}); }
      });
    });
    return out;
  }

  function typeRow(type, display, clusters, elig, sel) {
    var offering = clusters.filter(function (c) {
      return c.gpus.some(function (g) { return g.type === type; });
    });
    var here = pairsOf(elig.list, type);
    var a = amounts(here.map(function (x) { return x.g; }));
    var m = maxPerNode(here);
    var row = {value: type, display: display, free: a.free, upper: a.upper, bounded: a.bounded,
      max_per_node: m.max, max_where: m.where, reason: ""};
    if (sel !== null && offering.indexOf(sel) < 0) {
      row.reason = "not on " + sel.display_name;
    } else if (elig.reason) {
      row.reason = elig.reason;
    } else if (!here.length) {
      var usable = offering.filter(function (c) { return c.usable; });
      if (!usable.length) {
        if (offering.every(function (c) { return !c.healthy; })) {
          row.reason = offering.length > 1 ? "its clusters are down" : "its cluster is down";
        } else if (offering.every(function (c) { return c.healthy; })) {
          row.reason = "only on clusters closed to your groups";
        } else {
          row.reason = "only on clusters you cannot use now";
        }
      } else {
        row.reason = "not where this profile runs";
      }
    } else if (a.upper === 0) {
      row.reason = "none free now";
    }
    return row;
  }

  function countLabel(display, free, upper, bounded) {
    return bounded ? display + " — up to " + upper + " free" : display + " — " + free + " free";
  }

  function gpuRows(clusters, p, chosen) {
    var elig = eligible(clusters, p, chosen);
    var sel = chosen !== AUTO ? findCluster(clusters, chosen) : null;
    var rows = [{value: "", display: "No GPU", reason: p && p.gpu_type ? GPU_PROFILE_REASON : "",
      max_per_node: 0, max_where: ""}];
    var pairs = pairsOf(elig.list, null);
    var a = amounts(pairs.map(function (x) { return x.g; }));
    var reason;
    if (elig.reason) {
      reason = elig.reason;
    } else if (!pairs.length) {
      reason = sel ? "no GPUs on " + sel.display_name : "no GPUs on the clusters you can use";
    } else {
      reason = a.upper ? "" : "none free now";
    }
    var m = maxPerNode(pairs);
    rows.push({value: ANY, display: "Any GPU", free: a.free, upper: a.upper, bounded: a.bounded, reason: reason,
      max_per_node: m.max, max_where: m.where});
    var displays = {};
    clusters.forEach(function (c) { c.gpus.forEach(function (g) { displays[g.type] = g.display; }); });
    Object.keys(displays).sort(function (x, y) {
      var dx = displays[x].toLowerCase();
      var dy = displays[y].toLowerCase();
      if (dx !== dy) { return dx < dy ? -1 : 1; }
      return x < y ? -1 : (x > y ? 1 : 0);
    }).forEach(function (type) {
      rows.push(typeRow(type, displays[type], clusters, elig, sel));
    });
    rows.forEach(function (r) {
      if (r.value === "") {
        r.label = r.reason ? "No GPU — " + r.reason : "No GPU";
      } else if (r.reason) {
        r.label = r.display + " — " + r.reason;
      } else {
        r.label = countLabel(r.display, r.free, r.upper, r.bounded);
      }
    });
    return rows;
  }

  function countLimits(row) {
    if (!row || row.value === "") {
      return {max: data.max_gpus, hint: "Choose a GPU type to ask for GPUs."};
    }
    if (row.max_per_node) {
      return {max: row.max_per_node, hint: "At most " + row.max_per_node + " on one node (" + row.max_where +
        "); a server's GPUs must share a node."};
    }
    return {max: data.max_gpus,
      hint: "Node sizes are not visible on every cluster, so the hub checks the count when you start."};
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

  function renderTable(clusters, p) {
    var body = root.querySelector("#fs-cluster-table tbody");
    var frag = document.createDocumentFragment();
    clusters.forEach(function (c) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-cluster", c.name);
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = c.display_name;
      var where = document.createElement("div");
      where.className = "fs-where";
      where.textContent = [c.site, c.owner].filter(function (x) { return x; }).join(" · ");
      th.appendChild(where);
      var state = document.createElement("td");
      state.className = "fs-state " + (clusterReason(c, p) ? "fs-bad" : "fs-ok");
      state.textContent = clusterStatus(c, p);
      var g = document.createElement("td");
      g.className = "fs-gpus";
      var lines = c.healthy ? gpuNotes(c) : ["unknown while the cluster is down"];
      if (!lines.length) { lines = ["CPU only"]; }
      lines.forEach(function (line) {
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

  function clusterRows(clusters, p) {
    return [{value: AUTO, label: data.auto_label, reason: ""}].concat(clusters.map(function (c) {
      var reason = clusterReason(c, p);
      return {value: c.name, label: clusterLabel(c, reason), reason: reason};
    }));
  }

  // Bring every label, state, limit and warning in line with the payload and the choices.
  function render() {
    var p = currentProfile();
    var clusters = payload.clusters || [];
    var cRows = clusterRows(clusters, p);
    syncOptions(clusterSel, cRows);
    var rows = gpuRows(clusters, p, clusterSel.value);
    if (!rowFor(rows, gpuSel.value)) {
      var missing = findOption(gpuSel, gpuSel.value);
      var display = missing ? missing.textContent.split(" — ")[0] : gpuSel.value;
      rows.push({value: gpuSel.value, display: display, reason: "not in any member cluster",
        label: display + " — not in any member cluster", max_per_node: null, max_where: ""});
    }
    syncOptions(gpuSel, rows);
    var row = rowFor(rows, gpuSel.value);
    var limits = countLimits(row);
    countInput.max = String(limits.max);
    if (countHint.textContent !== limits.hint) { countHint.textContent = limits.hint; }
    countInput.disabled = gpuSel.value === "";
    var cRow = rowFor(cRows, clusterSel.value);
    showWarning("fs-cluster-warning", cRow ? cRow.reason : "");
    showWarning("fs-gpu-warning", row ? row.reason : "");
    renderTable(clusters, p);
    return rows;
  }

  // What changed between two payloads that matters to this user, in words.
  function changes(before, after) {
    var msgs = [];
    var p = currentProfile();
    (after.clusters || []).forEach(function (c) {
      var old = findCluster(before.clusters || [], c.name);
      if (!old || old.usable === c.usable) { return; }
      msgs.push(c.usable ? c.display_name + " is available again." : c.display_name + ": " + c.reason + ".");
    });
    var chosen = clusterSel.value;
    var oldRow = rowFor(gpuRows(before.clusters || [], p, chosen), gpuSel.value);
    var newRow = rowFor(gpuRows(after.clusters || [], p, chosen), gpuSel.value);
    if (gpuSel.value !== "" && oldRow && newRow && oldRow.label !== newRow.label) { msgs.push(newRow.label + "."); }
    return msgs.join(" ");
  }

  function apply(next) {
    var before = payload;
    payload = next;
    var said = changes(before, next);
    render();
    if (said) { announce("Availability changed: " + said); }
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

  function onProfile() {
    var p = currentProfile();
    var msgs = [];
    syncProfileOptions();
    if (!gpuDirty) {
      var d = profileDefaults(p);
      if (gpuSel.value !== d.type || Number(countInput.value || 0) !== d.count) {
        setGpu(d.type, d.count);
        msgs.push(d.type ? "GPU set to " + d.count + " × " + gpuSel.options[gpuSel.selectedIndex].textContent
          .split(" — ")[0] + " by the profile." : "GPU set to none.");
      }
    }
    render();
    if (p && p.allowed) {
      var names = p.allowed.map(function (n) {
        var c = findCluster(payload.clusters || [], n);
        return c ? c.display_name : n;
      });
      msgs.push("This profile runs only on " + names.join(", ") + ".");
    }
    if (msgs.length) { announce(msgs.join(" ")); }
  }

  root.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t.name === "profile") {
      onProfile();
    } else if (t === clusterSel) {
      render();
    } else if (t === gpuSel) {
      if (gpuSel.value === "") {
        countInput.value = "0";
      } else if (Number(countInput.value || 0) < 1) {
        countInput.value = "1";
      }
      computeDirty();
      render();
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

  function restore(saved) {
    var radios = root.querySelectorAll('input[name="profile"]');
    for (var i = 0; i < radios.length; i++) {
      if (radios[i].value === saved.profile && !radios[i].checked) {
        radios[i].checked = true;
        gpuDirty = false;
        onProfile();
      }
    }
    var c = findOption(clusterSel, saved.cluster);
    if (c && !c.disabled) { clusterSel.value = saved.cluster; }
    render();
    var g = findOption(gpuSel, saved.gpu_type);
    if (g && !g.disabled) {
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
  render();
  if (errorBox && saved) { restore(saved); render(); }
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

  async function fetchOnce() {
    var url = data.endpoint + "?since=" + encodeURIComponent(payload.version) + "&wait=20";
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
        var next = await fetchOnce();
        if (stopped) { return; }
        if (failures) {
          failures = 0;
          announce("Live availability is back.");
        }
        if (next.version !== payload.version) { apply(next); } else { payload.taken_at = next.taken_at; }
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
