// vbproxy console: keeps the server-rendered page live. Every second it
// fetches /api/state and updates the summaries, node tables, clients and
// events in place; when a bucket's revision changes it fetches /api/grid and
// recolours the cells. Plain JavaScript, no dependencies, no build step.
// Everything from the server is inserted as text, never as HTML.
"use strict";
(function () {
	const PALETTE = 9; // node colours in console.css
	const POLL_MS = 1000;
	const grids = {}; // bucket name -> Grid JSON last drawn

	const slot = (c) => (c < 0 ? "x" : String(c % PALETTE));
	const el = (tag, attrs, ...kids) => {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (k === "class") e.className = v;
			else e.setAttribute(k, v);
		}
		for (const k of kids) e.append(k);
		return e;
	};
	const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour12: false });
	const num = (x) => (Number.isInteger(x) ? String(x) : x.toFixed(2).replace(/\.?0+$/, ""));
	const latency = (s) => {
		if (s === null || s === undefined) return "—";
		if (s < 0.001) return Math.round(s * 1e6) + " µs";
		if (s < 1) return (s * 1e3).toFixed(1) + " ms";
		return s.toFixed(2) + " s";
	};
	const section = (name) => document.querySelector(`section.bucket[data-bucket="${CSS.escape(name)}"]`);

	// The cell classes, as the server renders them (admin/grid.go appendCell).
	function cellClass(g, vb) {
		const colour = (i) => (i >= 0 && i < g.nodes.length ? slot(g.nodes[i].colour) : "x");
		let c = "a" + colour(g.active[vb]);
		const reps = g.replicas[vb];
		if (reps.length > 0) c += " r" + colour(reps[0]);
		const f = g.forward ? g.forward[vb] : -1;
		if (f >= 0 && f !== g.active[vb]) c += " f" + colour(f) + " mv";
		return c;
	}

	function describeCell(g, vb) {
		const name = (i) => (i >= 0 && i < g.nodes.length ? g.nodes[i].address : "none");
		let s = `vBucket ${vb} · active ${name(g.active[vb])}`;
		const reps = g.replicas[vb];
		if (reps.length > 0) s += ` · replica${reps.length > 1 ? "s" : ""} ${reps.map(name).join(", ")}`;
		const f = g.forward ? g.forward[vb] : -1;
		if (f >= 0 && f !== g.active[vb]) s += ` · moving to ${name(f)}`;
		return s;
	}

	function drawGrid(sec, g) {
		const grid = sec.querySelector("[data-grid]");
		grid.style.setProperty("--cols", g.columns);
		while (grid.children.length < g.vbuckets) grid.append(document.createElement("i"));
		while (grid.children.length > g.vbuckets) grid.lastElementChild.remove();
		for (let vb = 0; vb < g.vbuckets; vb++) grid.children[vb].className = cellClass(g, vb);
		grid.dataset.revision = g.revision;
		const counts = g.nodes.map(() => 0);
		for (const a of g.active) if (a >= 0) counts[a]++;
		const legend = sec.querySelector("[data-legend]");
		legend.replaceChildren(...g.nodes.map((n, i) =>
			el("li", { "data-colour": n.colour, "data-node": n.address },
				el("i", { class: "sw a" + slot(n.colour) }), n.address + " ",
				el("span", { class: "n" }, counts[i] + " active"))));
		grids[sec.dataset.bucket] = g;
	}

	async function fetchGrid(name) {
		const r = await fetch("/api/grid?bucket=" + encodeURIComponent(name), { cache: "no-store" });
		if (!r.ok) return;
		const sec = section(name);
		if (sec) drawGrid(sec, await r.json());
	}

	function nodeRow(n) {
		const state = n.state + (n.reason ? ": " + n.reason : "");
		const active = n.active_vbuckets + (n.incoming_vbuckets ? ` (+${n.incoming_vbuckets})` : "");
		return el("tr", { "data-node": n.address },
			el("td", {}, el("i", { class: "sw a" + slot(n.colour) }), n.address),
			el("td", { class: "st st-" + n.state }, state),
			el("td", {}, String(n.connections)),
			el("td", {}, active),
			el("td", {}, String(n.replica_vbuckets)),
			el("td", {}, num(n.requests_per_second)),
			el("td", {}, num(n.errors_per_second)),
			el("td", {}, latency(n.p50_seconds)),
			el("td", {}, latency(n.p99_seconds)),
			el("td", {}, String(n.nmvb_replies)));
	}

	function clientsLine(c) {
		if (!c) return [];
		const parts = [el("b", {}, String(c.connections)), " connected · " + c.accepted + " accepted · " +
			c.refused + " refused · " + c.auth_failures + " failed logins · " + num(c.requests_per_second) + " req/s"];
		for (const [p, n] of Object.entries(c.by_protocol || {}).sort()) parts.push(` · ${p} ${n}`);
		return ["clients: ", ...parts];
	}

	function drawBucket(b) {
		const sec = section(b.name);
		if (!sec) return false; // a bucket the page does not know: reload it
		const sum = sec.querySelector("[data-summary]");
		if (b.error) {
			sum.replaceChildren(el("span", { class: "err" }, b.error));
		} else {
			sum.replaceChildren("revision ", el("b", { "data-f": "revision" }, b.revision),
				" · origin ", el("b", { "data-f": "origin" }, b.origin),
				" · changed ", el("b", { "data-f": "changed" }, b.changed ? clock(b.changed) : "—"),
				" · ", el("b", { "data-f": "vbuckets" }, String(b.vbuckets)), " vBuckets, ",
				el("b", { "data-f": "replicas" }, String(b.replicas)), b.replicas === 1 ? " replica · " : " replicas · ",
				el("b", { "data-f": "moving" }, String(b.moving)), " moving");
		}
		sec.querySelector("[data-nodes]").replaceChildren(...b.nodes.map(nodeRow));
		sec.querySelector("[data-clients]").replaceChildren(...clientsLine(b.clients));
		const g = grids[b.name];
		if (b.revision && (!g || g.revision !== b.revision)) fetchGrid(b.name).catch(() => {});
		return true;
	}

	function drawEvents(events) {
		const list = document.querySelector("[data-events]");
		if (events.length === 0) {
			list.replaceChildren(el("li", { class: "muted" }, "none yet"));
			return;
		}
		list.replaceChildren(...events.map((e) => el("li", {},
			el("time", { datetime: e.time }, clock(e.time)),
			el("span", { class: "kind kind-" + e.kind }, e.kind),
			" " + (e.bucket ? `[${e.bucket}] ` : "") + e.message)));
	}

	async function poll() {
		const live = document.getElementById("live");
		try {
			const r = await fetch("/api/state", { cache: "no-store" });
			if (!r.ok) throw new Error("HTTP " + r.status);
			const s = await r.json();
			document.getElementById("version").textContent = s.version || "";
			const ready = document.getElementById("ready");
			ready.className = s.ready ? "ready" : "notready";
			ready.textContent = s.ready ? "ready" : "not ready: " + s.not_ready;
			document.getElementById("lookup-token").hidden = !s.token_required;
			let known = true;
			for (const b of s.buckets) known = drawBucket(b) && known;
			if (!known) location.reload();
			drawEvents(s.events);
			live.className = "muted";
			live.textContent = "live · " + clock(s.time);
		} catch (err) {
			live.className = "stale";
			live.textContent = "not updating (" + err.message + "); retrying";
		} finally {
			setTimeout(poll, POLL_MS);
		}
	}

	// Hover or tap a cell: its vBucket and nodes. Hover a legend entry: only
	// that node's cells stay bright.
	function wireBucket(sec) {
		const grid = sec.querySelector("[data-grid]");
		const info = sec.querySelector("[data-cellinfo]");
		const show = (ev) => {
			const cell = ev.target.closest("[data-grid] > i");
			const g = grids[sec.dataset.bucket];
			if (!cell || !g) return;
			const vb = Array.prototype.indexOf.call(grid.children, cell);
			info.textContent = describeCell(g, vb);
			cell.title = info.textContent;
		};
		grid.addEventListener("mouseover", show);
		grid.addEventListener("click", show);
		const legend = sec.querySelector("[data-legend]");
		legend.addEventListener("mouseover", (ev) => {
			const li = ev.target.closest("li");
			if (!li) return;
			const cls = "a" + slot(Number(li.dataset.colour));
			grid.classList.add("dim");
			for (const c of grid.children) c.classList.toggle("lit", c.classList.contains(cls));
		});
		legend.addEventListener("mouseleave", () => grid.classList.remove("dim"));
		sec.querySelector("[data-colourby]").addEventListener("change", (ev) => {
			grid.classList.remove("by-replica", "by-forward");
			if (ev.target.value !== "active") grid.classList.add("by-" + ev.target.value);
		});
	}

	function lookupResult(info) {
		const node = (n) => (n ? [el("i", { class: "sw a" + slot(n.colour) }), n.address] : ["none"]);
		const rows = [["key", [info.key !== undefined ? info.key : "(base64) " + info.key_b64]],
			["bucket", [info.bucket]], ["vBucket", [String(info.vbucket)]], ["active node", node(info.active)],
			["replicas", info.replicas.length ? info.replicas.flatMap((n, i) => (i ? [", ", ...node(n)] : node(n))) : ["none"]]];
		if (info.forward) rows.push(["moving to", node(info.forward)]);
		if (info.probe) {
			const p = info.probe;
			rows.push(["exists", [p.error ? "unknown: " + p.error : p.exists ? `yes (${p.size} bytes, flags ${p.flags}, CAS ${p.cas})` : "no"]]);
		}
		const dl = el("dl", {});
		for (const [k, v] of rows) {
			const dd = el("dd", { "data-field": k.replace(/ /g, "-") }, ...v);
			dl.append(el("dt", {}, k), dd);
		}
		return dl;
	}

	function wireLookup() {
		const form = document.getElementById("lookup-form");
		const out = document.getElementById("lookup-result");
		form.addEventListener("submit", async (ev) => {
			ev.preventDefault();
			const key = document.getElementById("lookup-key").value;
			const bucket = document.getElementById("lookup-bucket").value;
			const probe = document.getElementById("lookup-probe").checked;
			const q = new URLSearchParams({ key, bucket });
			if (probe) q.set("probe", "1");
			const headers = {};
			const token = document.getElementById("lookup-token").value;
			if (probe && token) headers.Authorization = "Bearer " + token;
			try {
				const r = await fetch("/api/key?" + q, { headers, cache: "no-store" });
				const body = await r.json();
				if (body.vbucket === undefined) {
					out.replaceChildren(el("p", { class: "err" }, (body.field ? body.field + ": " : "") + body.error));
					return;
				}
				out.replaceChildren(lookupResult(body));
				const sec = section(body.bucket);
				const cell = sec && sec.querySelector("[data-grid]").children[body.vbucket];
				if (cell) {
					for (const c of document.querySelectorAll(".grid i.hit")) c.classList.remove("hit");
					cell.classList.add("hit");
				}
			} catch (err) {
				out.replaceChildren(el("p", { class: "err" }, "lookup failed: " + err.message));
			}
		});
	}

	document.querySelectorAll("section.bucket").forEach(wireBucket);
	wireLookup();
	// The grids rendered by the server need their JSON for hover text.
	document.querySelectorAll("section.bucket").forEach((sec) => fetchGrid(sec.dataset.bucket).catch(() => {}));
	poll();
})();
