// Listening evidence for each clip of a task page (quality or diversity): plays started, seconds of the clip covered, reached the end.
// Submit stays disabled until every clip was played to the end; the server checks again.
(function () {
  "use strict";
  const form = document.getElementById("rating-form");
  // The server's rule (formats.HEARD_FRACTION), rendered into the form so that one number serves both.
  const HEARD_FRACTION = parseFloat(form.dataset.heardFraction);
  const submit = document.getElementById("submit");
  const hint = document.getElementById("submit-hint");
  const clips = Array.from(form.querySelectorAll("section.clip"));

  function field(name) { return form.querySelector('input[name="' + name + '"]'); }

  function covered(audio) {
    let total = 0;
    for (let i = 0; i < audio.played.length; i++) total += audio.played.end(i) - audio.played.start(i);
    return total;
  }

  function clipDone(section) { return field("ended_" + section.dataset.label).value === "True"; }

  function refresh() {
    const left = clips.filter(function (s) { return !clipDone(s); }).map(function (s) { return s.dataset.label; });
    submit.disabled = left.length > 0;
    hint.textContent = left.length ? "Play clip(s) " + left.join(", ") + " to the end to enable Submit." : "All clips played: you can submit.";
  }

  clips.forEach(function (section) {
    const label = section.dataset.label;
    const audio = section.querySelector("audio");
    const plays = field("plays_" + label), seconds = field("seconds_" + label), ended = field("ended_" + label);
    const events = field("events_" + label);
    let log = [];
    try { log = JSON.parse(events.value || "[]"); } catch (e) { log = []; }
    function record(type) {
      if (log.length < 200) log.push([type, Math.round(audio.currentTime * 100) / 100]);
      events.value = JSON.stringify(log);
    }
    ["play", "pause", "seeked", "ended"].forEach(function (type) {
      audio.addEventListener(type, function () { record(type); });
    });
    const heard = document.getElementById("heard-" + label);
    if (ended.value === "True") heard.textContent = "✓ played to the end";
    let heardBefore = parseFloat(seconds.value || "0");
    audio.addEventListener("play", function () {
      plays.value = String(parseInt(plays.value || "0", 10) + 1);
      // Pause the other clips so only one plays at a time.
      clips.forEach(function (other) { const a = other.querySelector("audio"); if (a !== audio) a.pause(); });
    });
    audio.addEventListener("timeupdate", function () {
      seconds.value = Math.max(heardBefore, covered(audio)).toFixed(2);
    });
    audio.addEventListener("ended", function () {
      const total = Math.max(heardBefore, covered(audio));
      seconds.value = total.toFixed(2);
      const duration = parseFloat(section.dataset.duration) || audio.duration;
      if (total >= HEARD_FRACTION * duration) {
        ended.value = "True";
        heard.textContent = "✓ played to the end";
      } else {
        heard.textContent = "skipped ahead: play the whole clip";
      }
      refresh();
    });
  });
  form.addEventListener("submit", function (event) {
    if (submit.disabled) event.preventDefault();
  });
  refresh();
})();
