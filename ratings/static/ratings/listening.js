// The task page's player and answer script, for every kind (quality or diversity).
// - Each clip has a play/pause button and a progress bar over an <audio> without the browser's controls,
//   so there is no speed or download menu and nothing in the Tab order that takes the arrow keys.
// - Listening evidence per clip: plays started, seconds of the clip covered at normal speed, reached the
//   end. A stretch played at any rate other than 1 does not count as heard. Submit stays disabled until
//   every clip was heard; the server checks the evidence again and decides.
// - Keys 1–5 set the focused scale (a quality scale by its score, the diversity answer by its order).
// - A draft (scores chosen, listening evidence) is kept in localStorage under the task's token, so a
//   reload of the same task finds it; it is cleared on submit.
// - Submitting with scales left unanswered marks each where it is and scrolls to the first.
(function () {
  "use strict";
  const form = document.getElementById("rating-form");
  // The server's rule (formats.HEARD_FRACTION), rendered into the form so that one number serves both.
  const HEARD_FRACTION = parseFloat(form.dataset.heardFraction);
  const DRAFT_KEY = "counterpoint-draft:" + form.dataset.task;
  const BIN = 0.1; // seconds of a clip per "heard" cell
  const submit = document.getElementById("submit");
  const hint = document.getElementById("submit-hint");
  const clips = Array.from(form.querySelectorAll("section.clip"));
  const scales = Array.from(form.querySelectorAll("fieldset[data-scale]"));
  const players = {};

  function field(name) { return form.querySelector('input[name="' + name + '"]'); }
  function clipDone(section) { return field("ended_" + section.dataset.label).value === "True"; }

  // --- the draft -------------------------------------------------------------------------------------
  function readDraft() {
    try { return JSON.parse(window.localStorage.getItem(DRAFT_KEY) || "null"); } catch (e) { return null; }
  }
  function saveDraft() {
    const draft = { scores: {}, clips: {} };
    form.querySelectorAll('fieldset[data-scale] input[type="radio"]:checked').forEach(function (input) {
      draft.scores[input.name] = input.value;
    });
    Object.keys(players).forEach(function (label) { draft.clips[label] = players[label].state(); });
    try { window.localStorage.setItem(DRAFT_KEY, JSON.stringify(draft)); } catch (e) { /* storage full or off */ }
  }
  const draft = readDraft();

  function refresh() {
    const left = clips.filter(function (s) { return !clipDone(s); }).map(function (s) { return s.dataset.label; });
    submit.disabled = left.length > 0;
    hint.textContent = left.length ? "Play clip(s) " + left.join(", ") + " to the end to enable Submit." : "All clips played: you can submit.";
  }

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds || 0));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  // --- one player per clip ---------------------------------------------------------------------------
  clips.forEach(function (section) {
    const label = section.dataset.label;
    const audio = section.querySelector("audio");
    const button = section.querySelector("button.play");
    const bar = section.querySelector("progress.position");
    const time = section.querySelector(".time");
    const heard = document.getElementById("heard-" + label);
    const plays = field("plays_" + label), seconds = field("seconds_" + label), ended = field("ended_" + label);
    const events = field("events_" + label);
    const duration = function () { return parseFloat(section.dataset.duration) || audio.duration || 0; };
    let log = [];
    try { log = JSON.parse(events.value || "[]"); } catch (e) { log = []; }
    let cells = {}; // index of each BIN-second cell heard at normal speed
    const saved = draft && draft.clips && draft.clips[label];
    if (saved && !form.dataset.bound) {
      // A reload: take back what this browser saw of the clip (the server still judges it on submit).
      plays.value = String(saved.plays || 0);
      seconds.value = String(saved.seconds || 0);
      ended.value = saved.ended ? "True" : "False";
      events.value = JSON.stringify(saved.events || []);
      log = saved.events || [];
      (saved.cells || []).forEach(function (i) { cells[i] = true; });
    }
    let last = null; // [media time, wall time] of the last position counted

    function covered() { return Object.keys(cells).length * BIN; }
    function record(type) {
      if (log.length < 200) log.push([type, Math.round(audio.currentTime * 100) / 100]);
      events.value = JSON.stringify(log);
    }
    function markHeard() {
      if (ended.value === "True") heard.textContent = "✓ played to the end";
    }
    // Count the stretch since the last position as heard only at normal speed, in step with the clock.
    function advance() {
      const now = [audio.currentTime, performance.now() / 1000];
      if (last && audio.playbackRate === 1) {
        const media = now[0] - last[0], wall = now[1] - last[1];
        if (media > 0 && media <= wall * 1.25 + 0.1) {
          for (let i = Math.floor(last[0] / BIN); i < Math.ceil(now[0] / BIN - 1e-6); i++) cells[i] = true;
        }
      }
      last = audio.paused ? null : now;
      seconds.value = Math.max(parseFloat(seconds.value || "0"), Math.min(covered(), duration())).toFixed(2);
    }

    ["play", "pause", "seeked", "ended"].forEach(function (type) {
      audio.addEventListener(type, function () { record(type); });
    });
    audio.addEventListener("ratechange", function () {
      // No speed control is offered; a rate set some other way is undone and its stretch not counted.
      if (audio.playbackRate !== 1) { last = null; audio.playbackRate = 1; }
    });
    audio.addEventListener("play", function () {
      plays.value = String(parseInt(plays.value || "0", 10) + 1);
      last = audio.playbackRate === 1 ? [audio.currentTime, performance.now() / 1000] : null;
      // Pause the other clips so only one plays at a time.
      clips.forEach(function (other) { const a = other.querySelector("audio"); if (a !== audio) a.pause(); });
      button.textContent = "❚❚ Pause";
      button.setAttribute("aria-label", "Pause " + button.dataset.name);
    });
    audio.addEventListener("pause", function () {
      advance();
      button.textContent = "▶ Play";
      button.setAttribute("aria-label", "Play " + button.dataset.name);
      saveDraft();
    });
    audio.addEventListener("seeking", function () { last = null; });
    audio.addEventListener("seeked", function () { if (!audio.paused) last = [audio.currentTime, performance.now() / 1000]; });
    audio.addEventListener("timeupdate", function () {
      advance();
      const d = duration();
      bar.value = d ? Math.min(1, audio.currentTime / d) : 0;
      time.textContent = clock(audio.currentTime) + " / " + clock(d);
    });
    audio.addEventListener("loadedmetadata", function () { time.textContent = "0:00 / " + clock(duration()); });
    audio.addEventListener("ended", function () {
      advance();
      if (covered() >= HEARD_FRACTION * duration()) {
        ended.value = "True";
        markHeard();
      } else {
        heard.textContent = "not all heard at normal speed: play the whole clip";
      }
      bar.value = 1;
      refresh();
      saveDraft();
    });
    button.addEventListener("click", function () {
      if (audio.paused) {
        if (audio.ended) audio.currentTime = 0;
        audio.play();
      } else {
        audio.pause();
      }
    });
    markHeard();
    players[label] = {
      state: function () {
        return {
          plays: parseInt(plays.value || "0", 10), seconds: parseFloat(seconds.value || "0"),
          ended: ended.value === "True", events: log, cells: Object.keys(cells).map(Number),
        };
      },
    };
  });

  // --- scales: the draft, keys 1–5, marking what is missing --------------------------------------------
  if (draft && draft.scores && !form.dataset.bound) {
    Object.keys(draft.scores).forEach(function (name) {
      const input = form.querySelector('input[name="' + name + '"][value="' + draft.scores[name] + '"]');
      if (input) input.checked = true;
    });
  }

  function answered(fieldset) { return fieldset.querySelector('input[type="radio"]:checked') !== null; }
  function setMissing(fieldset, missing) {
    const note = fieldset.querySelector(".missing");
    if (missing) fieldset.setAttribute("aria-invalid", "true"); else fieldset.removeAttribute("aria-invalid");
    if (note) {
      note.hidden = !missing;
      const described = (fieldset.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
        return id && id !== note.id;
      });
      if (missing && note.id) described.push(note.id);
      if (described.length) fieldset.setAttribute("aria-describedby", described.join(" "));
    }
  }

  scales.forEach(function (fieldset) {
    fieldset.addEventListener("change", function () {
      if (answered(fieldset)) setMissing(fieldset, false);
      saveDraft();
    });
    fieldset.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey || !/^[1-5]$/.test(event.key)) return;
      const radios = Array.from(fieldset.querySelectorAll('input[type="radio"]'));
      const target = fieldset.dataset.keys === "value"
        ? radios.find(function (r) { return r.value === event.key; })
        : radios[parseInt(event.key, 10) - 1];
      if (!target) return;
      event.preventDefault();
      target.checked = true;
      target.focus();
      target.dispatchEvent(new Event("change", { bubbles: true }));
    });
  });

  form.addEventListener("submit", function (event) {
    if (submit.disabled) { event.preventDefault(); return; }
    const missing = scales.filter(function (fieldset) { return !answered(fieldset); });
    scales.forEach(function (fieldset) { setMissing(fieldset, missing.indexOf(fieldset) >= 0); });
    if (missing.length) {
      event.preventDefault();
      hint.textContent = missing.length === 1
        ? "One answer is still missing: it is marked where it is."
        : missing.length + " answers are still missing: each is marked where it is.";
      missing[0].scrollIntoView({ block: "center" });
      const first = missing[0].querySelector('input[type="radio"]');
      if (first) first.focus({ preventScroll: true });
      return;
    }
    try { window.localStorage.removeItem(DRAFT_KEY); } catch (e) { /* storage off */ }
  });

  refresh();
  saveDraft();
})();
