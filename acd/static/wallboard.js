// The supervisors' wallboard: one EventSource on /wallboard/events, no polling. The server pushes a
// snapshot when the state changes; the longest waits tick here, once a second, from `oldest_since`.
"use strict";

(function () {
  const WARN_WAIT_S = 60;
  const BAD_WAIT_S = 180;
  let state = null;
  let skew = 0; // local clock minus service clock, seconds

  const $ = (root, field) => root.querySelector(`[data-field="${field}"]`);
  const set = (root, field, text) => {
    const el = $(root, field);
    if (el && el.textContent !== String(text)) el.textContent = String(text);
    return el;
  };
  const pct = (r) => (r === null || r === undefined ? "—" : `${(r * 100).toFixed(1).replace(".", ",")} %`);
  const mmss = (s) => {
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(sec)}` : `${two(m)}:${two(sec)}`;
  };
  const serviceNow = () => Date.now() / 1000 - skew;

  function rate(root, today, target) {
    const el = set(root, "answer_rate", pct(today.answer_rate));
    const bar = root.querySelector(".rate");
    const level = today.answer_rate === null ? "" : today.answer_rate >= target ? "good" : "bad";
    el.dataset.level = level;
    bar.dataset.level = level;
    bar.querySelector(".bar").style.width = `${Math.round((today.answer_rate || 0) * 100)}%`;
    bar.querySelector(".target").style.left = `${target * 100}%`;
  }

  function agents(root, a) {
    for (const s of ["available", "busy", "wrap_up", "paused"]) set(root, s, a[s]);
  }

  function card(skill) {
    let el = document.querySelector(`article[data-skill="${CSS.escape(skill.skill)}"]`);
    if (!el) {
      el = document.getElementById("skill-card").content.firstElementChild.cloneNode(true);
      el.dataset.skill = skill.skill;
      document.getElementById("skills").appendChild(el);
    }
    return el;
  }

  function tickWaits() {
    if (!state) return;
    const now = serviceNow();
    for (const skill of state.skills) {
      const el = card(skill);
      const wait = skill.oldest_since === null ? null : now - skill.oldest_since;
      const out = set(el, "oldest", wait === null ? "—" : mmss(wait));
      out.dataset.level = wait === null ? "" : wait >= BAD_WAIT_S ? "bad" : wait >= WARN_WAIT_S ? "warn" : "";
    }
    // The service's clock (it may be shifted for a demo), shown in Paris time.
    const clock = new Date(serviceNow() * 1000).toLocaleTimeString("fr-FR", { timeZone: "Europe/Paris" });
    document.getElementById("clock").textContent = clock;
  }

  function render(s) {
    state = s;
    skew = Date.now() / 1000 - s.now;
    const line = document.getElementById("line");
    line.dataset.state = s.line_open ? "open" : "closed";
    line.textContent = s.line_open ? "Ligne ouverte" : "Ligne fermée";
    const ov = document.getElementById("overflow");
    ov.dataset.active = String(s.overflow.active);
    set(ov, "status", `${s.overflow.active ? "actif" : "inactif"} (mode ${s.overflow.mode})`);
    set(ov, "reason", s.overflow.reason || "");

    const sum = document.getElementById("summary");
    const t = s.total;
    rate(sum, t.today, s.target);
    set(sum, "target", pct(s.target).replace(",0", ""));
    set(sum, "waiting", t.waiting);
    set(sum, "callbacks_waiting", t.callbacks_waiting);
    agents(sum, t.agents);
    for (const f of ["answered", "offered", "abandoned", "overflowed", "closed"]) set(sum, f, t.today[f]);

    for (const skill of s.skills) {
      const el = card(skill);
      set(el, "name", skill.name);
      set(el, "waiting", skill.waiting);
      set(el, "ewt", skill.waiting || skill.agents.staffed ? mmss(skill.ewt_s) : "—");
      set(el, "callbacks", skill.callbacks_waiting ? `+ ${skill.callbacks_waiting} rappels en file` : "");
      agents(el, skill.agents);
      rate(el, skill.today, s.target);
      for (const f of ["answered", "offered", "abandoned"]) set(el, f, skill.today[f]);
      el.dataset.alert = String(skill.waiting > 0 && skill.agents.staffed === 0);
    }
    tickWaits();
    document.body.dataset.updated = String(s.now);
  }

  function connect() {
    const conn = document.getElementById("connection");
    const source = new EventSource("/wallboard/events");
    source.addEventListener("open", () => {
      conn.dataset.state = "live";
      conn.textContent = "en direct";
    });
    source.addEventListener("state", (ev) => render(JSON.parse(ev.data)));
    source.addEventListener("error", () => {
      // EventSource reconnects by itself (the server asks for 2 s).
      conn.dataset.state = source.readyState === EventSource.CLOSED ? "lost" : "connecting";
      conn.textContent = "reconnexion…";
    });
  }

  setInterval(tickWaits, 1000);
  connect();
})();
