// The web page: a dropped photo -> /predictions/fashion (polygon masks) -> overlay, metadata, colours;
// then /search with the answer's embedding (or one garment's) -> the most similar catalogue products.
"use strict";
const $ = (id) => document.getElementById(id);
const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c",
                 "#008080", "#9a6324", "#800000", "#000075"];
const FIELDS = ["scene", "gender", "articleType", "baseColour", "season", "usage", "masterCategory", "subCategory",
                "productDisplayName"];

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "muted";
}

function toBase64(buffer) {
  let binary = "";
  const bytes = new Uint8Array(buffer);
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

async function postJSON(path, body) {
  const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  const payload = await r.json().catch(() => ({error: {code: r.status, message: r.statusText}}));
  if (!r.ok || payload.error) throw new Error((payload.error && payload.error.message) || `HTTP ${r.status}`);
  return payload;
}

function label(value) {
  if (value && typeof value === "object" && value.label == null && value.reason) return `unknown: ${value.reason}`;
  if (value && typeof value === "object") return `${value.label}` + (value.score != null ? ` (${value.score.toFixed(2)})` : "");
  return value == null ? "" : String(value);
}

function draw(image, answer) {
  const canvas = $("overlay");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0);
  const line = Math.max(2, Math.round(canvas.width / 300));
  (answer.garments || []).forEach((g, n) => {
    const colour = PALETTE[n % PALETTE.length];
    ctx.fillStyle = colour + "66";
    for (const poly of (g.mask && g.mask.polygons) || []) {
      ctx.beginPath();
      for (let i = 0; i < poly.length; i += 2) i ? ctx.lineTo(poly[i], poly[i + 1]) : ctx.moveTo(poly[i], poly[i + 1]);
      ctx.closePath();
      ctx.fill();
    }
    const [x0, y0, x1, y1] = g.box;
    ctx.strokeStyle = colour;
    ctx.lineWidth = line;
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    const text = `${g.label} ${g.score.toFixed(2)}` + (g.colour ? ` · ${g.colour.name}` : "");
    ctx.font = `${Math.max(12, Math.round(canvas.width / 45))}px sans-serif`;
    const w = ctx.measureText(text).width + 8, h = Math.max(16, Math.round(canvas.width / 35));
    ctx.fillStyle = colour;
    ctx.fillRect(x0, Math.max(0, y0 - h), w, h);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x0 + 4, Math.max(0, y0 - h) + h - 4);
  });
  canvas.dataset.garments = String((answer.garments || []).length);
}

function showFacts(answer) {
  const meta = answer.metadata || {};
  $("metadata").replaceChildren(...FIELDS.filter((f) => meta[f] != null).map((f) => {
    const tr = document.createElement("tr");
    tr.innerHTML = "<td></td><td></td>";
    tr.children[0].textContent = f;
    tr.children[1].textContent = label(meta[f]);
    return tr;
  }));
  $("garments").replaceChildren(...(answer.garments || []).map((g, n) => {
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = g.colour ? g.colour.hex : "transparent";
    li.append(sw, `${n}: ${g.label} (${g.score.toFixed(2)})` + (g.colour ? ` ${g.colour.name} ${g.colour.hex}` : ""));
    if (g.metadata) {  // the garment's own metadata, from its crop
      const m = document.createElement("span");
      m.className = "garment-metadata";
      m.textContent = ` · ${g.metadata.productDisplayName || "unknown"} · ` +
        ["gender", "articleType"].map((f) => `${f} ${label(g.metadata[f])}`).join(", ");
      li.append(m);
    }
    if (g.embedding) {
      const b = document.createElement("button");
      b.textContent = "similar";
      b.onclick = () => similar(g.embedding, `garment ${n} (${g.label})`);
      li.append(b);
    }
    return li;
  }));
  if (!(answer.garments || []).length) $("garments").innerHTML = "<li class='muted'>no garment found</li>";
}

// Filter chips beside the similar products: each toggles one condition of the search's `where`
// (catalogue/filters.py's grammar), e.g. gender = "Women" AND articleType = "Dresses".
const chosen = new Map();
let lastQuery = null;

function chips(meta) {
  const offers = [["gender", "Women"], ["gender", "Men"]];
  if (meta && meta.articleType && meta.articleType.label) offers.push(["articleType", meta.articleType.label]);
  $("filters").replaceChildren(...offers.map(([field, value]) => {
    const b = document.createElement("button");
    b.className = "chip";
    b.textContent = `${field}: ${value}`;
    b.onclick = () => {
      if (chosen.get(field) === value) chosen.delete(field); else chosen.set(field, value);
      document.querySelectorAll("#filters .chip").forEach((c) => c.classList.toggle("on",
        chosen.get(c.textContent.split(": ")[0]) === c.textContent.split(": ")[1]));
      if (lastQuery) similar(...lastQuery);
    };
    return b;
  }));
}

function where() {
  return [...chosen].map(([f, v]) => `${f} = ${JSON.stringify(v)}`).join(" AND ");
}

async function similar(vector, what) {
  lastQuery = [vector, what];
  $("similar-note").textContent = `searching for products like the ${what}…`;
  try {
    const filter = where();
    const found = await postJSON("/search", filter ? {vector, k: 8, where: filter} : {vector, k: 8});
    $("similar-note").textContent = `like the ${what}: ${found.index.products} products indexed`;
    $("similar").replaceChildren(...found.hits.map((h) => {
      const li = document.createElement("li");
      if (h.thumbnail) {  // the product's picture, read by the server from the image its index names
        const img = document.createElement("img");
        img.src = h.thumbnail;
        img.alt = h.productDisplayName || h.id;
        img.loading = "lazy";
        li.append(img);
      }
      const caption = document.createElement("span");
      caption.textContent = `${h.id} · ${h.productDisplayName || h.articleType || ""} · ${h.gender || ""} · ` +
        `${h.score.toFixed(3)}`;
      li.append(caption);
      return li;
    }));
  } catch (e) {
    $("similar-note").textContent = `no search: ${e.message}`;
    $("similar").replaceChildren();
  }
}

async function analyse(file) {
  if (!file) return;
  status(`analysing ${file.name}…`);
  const buffer = await file.arrayBuffer();
  const url = URL.createObjectURL(new Blob([buffer], {type: file.type || "image/jpeg"}));
  try {
    const answer = await postJSON("/predictions/fashion", {b64: toBase64(buffer), mask_format: "polygon"});
    const image = new Image();
    await new Promise((ok, fail) => { image.onload = ok; image.onerror = () => fail(new Error("the browser cannot show this image")); image.src = url; });
    $("result").hidden = false;
    draw(image, answer);
    showFacts(answer);
    chips(answer.metadata);
    const n = (answer.garments || []).length;
    status(`${file.name}: ${n} garment${n === 1 ? "" : "s"}, ${answer.image.width}×${answer.image.height}`);
    document.body.dataset.state = "done";
    if (answer.embedding) await similar(answer.embedding, "whole photo");
  } catch (e) {
    status(`${file.name}: ${e.message}`, true);
    document.body.dataset.state = "error";
  } finally {
    URL.revokeObjectURL(url);
  }
}

const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); analyse(e.dataTransfer.files[0]); });
$("file").addEventListener("change", (e) => analyse(e.target.files[0]));
fetch("/ping").then((r) => r.json()).then((p) => { $("health").textContent = `models: ${p.status || "?"}`; })
  .catch(() => { $("health").textContent = "the model server does not answer"; });
