// Test run progress on the version page: while a run or warm-up is queued or running, poll
// the progress endpoint every 2 s and update the line; when it finishes, reload once so the
// server renders the evidence. No library: a fetch and a few DOM updates.
(function () {
  "use strict";
  var panel = document.querySelector("section.testsuites[data-progress-url]");
  if (!panel || panel.dataset.active !== "true") { return; }
  var url = panel.dataset.progressUrl;
  var text = panel.querySelector("[data-progress-text]");
  var bar = panel.querySelector("[data-progress-bar]");
  var failures = 0;

  function describe(data) {
    var run = data.test_run;
    if (!run) { return "Waiting for the test run to be queued."; }
    var line = "Test run " + run.sequence + ": " + run.status;
    if (run.status === "queued" || run.status === "running") {
      line += " — " + run.checks_done + " of " + run.checks_total + " checks done";
      if (run.current_check_title) { line += ", running " + run.current_check_title; }
    } else if (data.warmup) {
      line += "; warm-up " + data.warmup.status;
    }
    return line;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        failures = 0;
        if (text) { text.textContent = describe(data); }
        if (bar && data.test_run) {
          bar.max = Math.max(data.test_run.checks_total, 1);
          bar.value = data.test_run.checks_done;
        }
        if (data.active) { window.setTimeout(poll, 2000); } else { window.location.reload(); }
      })
      .catch(function () {
        failures += 1;
        if (failures < 30) { window.setTimeout(poll, 2000 * Math.min(failures, 5)); }
      });
  }
  window.setTimeout(poll, 2000);
})();
