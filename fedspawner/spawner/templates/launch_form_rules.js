/* fedspawner launch form: the choice rules (plain ES2019, no DOM, no build step).
 *
 * The same rules as fedspawner/spawner/form.py, for the page to re-apply them when the
 * profile, the cluster or the availability changes. tests/unit/test_form.py runs this file
 * in node over every visible profile x cluster choice of its fixtures and asserts that
 * both sides give the same options, labels, reasons, limits and table: a change on one
 * side only fails that test. form.py inlines it, with launch_form.js, inside one function.
 *
 * launchRules(consts) takes {auto, any, auto_label, max_gpus} and returns the rules.
 * A profile here is the script's view of one: {slug, display_name, gpu_type, gpu_count,
 * allowed}; a cluster is an entry of the availability payload.
 */
function launchRules(consts) {
  "use strict";
  var PROFILE_REASON = "not allowed by the selected profile";
  var GPU_PROFILE_REASON = "this profile includes a GPU";

  function profileAllows(p, name) {
    return !p || !p.allowed || p.allowed.indexOf(name) >= 0;
  }

  function clusterReason(c, p) {
    if (!c.usable) { return c.reason || "unavailable now"; }
    if (!profileAllows(p, c.name)) { return PROFILE_REASON; }
    return "";
  }

  function clusterLabel(c, reason) {
    var label = [c.display_name || c.name, c.site, c.owner].filter(function (x) { return x; }).join(" · ");
    return reason ? label + " — " + reason : label;
  }

  function gpuNotes(c) {
    return c.gpus.map(function (g) {
      var note = g.note || (g.free !== null ? g.best_known_free + " free of " + g.total
        : "up to " + (g.best_known_free || 0) + " free");
      return g.display + ": " + note;
    });
  }

  function clusterStatus(c, p) {
    var reason = clusterReason(c, p);
    if (reason) { return reason.charAt(0).toUpperCase() + reason.slice(1); }
    return c.visibility === "nodes" ? "Up" : "Up (GPU numbers are upper bounds)";
  }

  function findCluster(clusters, name) {
    for (var i = 0; i < clusters.length; i++) {
      if (clusters[i].name === name) { return clusters[i]; }
    }
    return null;
  }

  // The cluster select: Auto, then every member with the reason it cannot be chosen.
  function clusterRows(clusters, p) {
    return [{value: consts.auto, label: consts.auto_label, reason: ""}].concat(clusters.map(function (c) {
      var reason = clusterReason(c, p);
      return {value: c.name, label: clusterLabel(c, reason), reason: reason};
    }));
  }

  // The cluster table's rows.
  function tableRows(clusters, p) {
    return clusters.map(function (c) {
      var lines = c.healthy ? gpuNotes(c) : ["unknown while the cluster is down"];
      return {name: c.name, display_name: c.display_name,
        where: [c.site, c.owner].filter(function (x) { return x; }).join(" · "),
        status: clusterStatus(c, p), ok: !clusterReason(c, p), gpus: lines.length ? lines : ["CPU only"]};
    });
  }

  // Free GPUs over (cluster, gpu) pairs: the best known numbers, and whether any is only an upper bound.
  function amounts(pairs) {
    var free = 0;
    var bounded = false;
    pairs.forEach(function (x) {
      free += x.g.best_known_free || 0;
      if (x.g.free === null) { bounded = true; }
    });
    return {free: free, bounded: bounded};
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

  // Clusters a request may go to now, or the reason there are none (for an explicit choice).
  function eligible(clusters, p, chosen) {
    if (chosen !== consts.auto) {
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

  function amountRow(value, display, pairs, reason) {
    var a = amounts(pairs);
    var m = maxPerNode(pairs);
    return {value: value, display: display, free: a.free, bounded: a.bounded, reason: reason,
      max_per_node: m.max, max_where: m.where};
  }

  function typeReason(type, clusters, elig, sel, here, free) {
    var offering = clusters.filter(function (c) {
      return c.gpus.some(function (g) { return g.type === type; });
    });
    if (sel !== null && offering.indexOf(sel) < 0) { return "not on " + sel.display_name; }
    if (elig.reason) { return elig.reason; }
    if (here.length) { return free ? "" : "none free now"; }
    if (offering.some(function (c) { return c.usable; })) { return "not where this profile runs"; }
    if (offering.every(function (c) { return !c.healthy; })) {
      return offering.length > 1 ? "its clusters are down" : "its cluster is down";
    }
    if (offering.every(function (c) { return c.healthy; })) { return "only on clusters closed to your groups"; }
    return "only on clusters you cannot use now";
  }

  function label(r) {
    if (r.reason) { return r.display + " — " + r.reason; }
    if (r.value === "") { return r.display; }
    return r.bounded ? r.display + " — up to " + r.free + " free" : r.display + " — " + r.free + " free";
  }

  // The GPU type select ("" = No GPU, "any", then each type by display name) for a cluster choice.
  function gpuRows(clusters, p, chosen) {
    var elig = eligible(clusters, p, chosen);
    var sel = chosen !== consts.auto ? findCluster(clusters, chosen) : null;
    var rows = [{value: "", display: "No GPU", reason: p && p.gpu_type ? GPU_PROFILE_REASON : "",
      max_per_node: 0, max_where: ""}];
    var pairs = pairsOf(elig.list, null);
    var free = amounts(pairs).free;
    var anyReason = elig.reason;
    if (!anyReason && !pairs.length) {
      anyReason = sel ? "no GPUs on " + sel.display_name : "no GPUs on the clusters you can use";
    } else if (!anyReason && !free) {
      anyReason = "none free now";
    }
    rows.push(amountRow(consts.any, "Any GPU", pairs, anyReason));
    var displays = {};
    clusters.forEach(function (c) { c.gpus.forEach(function (g) { displays[g.type] = g.display; }); });
    Object.keys(displays).sort(function (x, y) {
      var dx = displays[x].toLowerCase();
      var dy = displays[y].toLowerCase();
      if (dx !== dy) { return dx < dy ? -1 : 1; }
      return x < y ? -1 : (x > y ? 1 : 0);
    }).forEach(function (type) {
      var here = pairsOf(elig.list, type);
      var row = amountRow(type, displays[type], here, "");
      row.reason = typeReason(type, clusters, elig, sel, here, row.free);
      rows.push(row);
    });
    rows.forEach(function (r) { r.label = label(r); });
    return rows;
  }

  // The row for a chosen GPU type that no member cluster has (e.g. a profile's).
  function missingRow(value, display) {
    var r = {value: value, display: display, reason: "not in any member cluster", max_per_node: null,
      max_where: ""};
    r.label = label(r);
    return r;
  }

  // {max, hint} for the GPU count input, for the selected GPU row.
  function countLimits(row) {
    if (!row || row.value === "") {
      return {max: consts.max_gpus, hint: "Choose a GPU type to ask for GPUs."};
    }
    if (row.max_per_node) {
      return {max: row.max_per_node, hint: "At most " + row.max_per_node + " on one node (" + row.max_where +
        "); a server's GPUs must share a node."};
    }
    return {max: consts.max_gpus,
      hint: "Node sizes are not visible on every cluster, so the hub checks the count when you start."};
  }

  return {clusterRows: clusterRows, tableRows: tableRows, gpuRows: gpuRows, missingRow: missingRow,
    countLimits: countLimits, findCluster: findCluster};
}
