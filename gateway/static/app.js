// The try-it page: one form → three calls of the same API the docs describe (overlay, summary, mask).
"use strict";

const $ = (id) => document.getElementById(id);
let catalogue = null;
let maskUrl = null;

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function authHeaders() {
  const key = $("api-key").value.trim();
  return key ? { "X-API-Key": key } : {};
}

// Models and their backends come from GET /models, so the choices match what Triton serves.
async function loadModels() {
  try {
    const response = await fetch("models", { headers: authHeaders() });
    if (response.ok) catalogue = await response.json();
  } catch (error) {
    // The static choices stay; a failing request will say why.
  }
  if (catalogue) showModels();
  // Lets scripts (and the browser test) know the choices will not change under them any more.
  $("segment-form").dataset.models = catalogue ? "loaded" : "unavailable";
}

function showModels() {
  const families = Object.keys(catalogue.models);
  const select = $("model");
  select.replaceChildren(...families.map((name) => new Option(name, name, false, name === catalogue.default_model)));
  $("model-row").hidden = families.length < 2;
  showBackends();
}

function showBackends() {
  if (!catalogue) return;
  const family = catalogue.models[$("model").value];
  if (!family) return;
  const backend = $("backend");
  const previous = backend.value;
  const names = Object.keys(family.backends).sort();
  backend.replaceChildren(...names.map((name) => new Option(name, name)));
  if (names.includes(previous)) backend.value = previous;
  showWeightsNote();
}

function showWeightsNote() {
  const family = catalogue && catalogue.models[$("model").value];
  const weights = family && family.backends[$("backend").value] && family.backends[$("backend").value].weights;
  const random = Boolean(weights && weights.weights_are_random);
  $("weights-note").hidden = !random;
  $("weights-note").textContent = random
    ? "This model was exported with random weights: its classes are not meaningful." : "";
}

function requestFor(format, extra) {
  const data = new FormData();
  data.append("infer_model_type", $("backend").value);
  if (catalogue && $("model").value) data.append("model", $("model").value);
  data.append("response_format", format);
  for (const [key, value] of Object.entries(extra)) data.append(key, value);
  const file = $("file").files[0];
  if (file) {
    data.append("file", file);
    return { url: "infer/file", data };
  }
  data.append("url_image", $("url").value.trim());
  return { url: "infer/url", data };
}

async function call(format, extra = {}) {
  const { url, data } = requestFor(format, extra);
  const response = await fetch(url, { method: "POST", body: data, headers: authHeaders() });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (error) { /* not JSON */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response;
}

function percent(fraction) {
  return fraction > 0 && fraction < 0.0005 ? "<0.1%" : `${(100 * fraction).toFixed(1)}%`;
}

function showLegend(summary) {
  const items = summary.classes.map((entry) => {
    const item = document.createElement("li");
    item.dataset.classId = entry.id;
    item.dataset.className = entry.name;
    item.dataset.fraction = entry.pixel_fraction;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = entry.color;
    swatch.setAttribute("aria-hidden", "true");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = entry.name;
    const fraction = document.createElement("span");
    fraction.className = "fraction";
    const confidence = entry.mean_confidence === null ? "" : `, confidence ${percent(entry.mean_confidence)}`;
    fraction.textContent = percent(entry.pixel_fraction);
    item.title = `${entry.name}: ${percent(entry.pixel_fraction)} of the pixels${confidence}`;
    item.append(swatch, name, fraction);
    return item;
  });
  $("legend").replaceChildren(...items);
  const size = summary.image_size;
  $("caption").textContent =
    `${size.width}×${size.height} photo · model ${summary.model.name} (${summary.model.backend})`;
}

async function segment(event) {
  event.preventDefault();
  if (!$("file").files[0] && !$("url").value.trim()) {
    setStatus("Pick a photo or paste a URL first.", true);
    return;
  }
  const maskSize = $("mask-original").checked ? "original" : "model";
  $("submit").disabled = true;
  $("result").setAttribute("aria-busy", "true");
  setStatus("Segmenting…");
  try {
    const [overlay, summary, mask] = await Promise.all([
      call("overlay_jpeg", { legend: "false" }).then((r) => r.blob()),
      call("summary", { mask_size: maskSize }).then((r) => r.json()),
      call("png", { mask_size: maskSize }).then((r) => r.blob()),
    ]);
    const image = $("overlay");
    if (image.src) URL.revokeObjectURL(image.src);
    image.src = URL.createObjectURL(overlay);
    await image.decode();
    if (maskUrl) URL.revokeObjectURL(maskUrl);
    maskUrl = URL.createObjectURL(mask);
    $("download-mask").href = maskUrl;
    showLegend(summary);
    $("result").hidden = false;
    $("result").dataset.state = "done";
    setStatus(`Done: ${summary.classes.length} classes found.`);
  } catch (error) {
    setStatus(`Could not segment: ${error.message}`, true);
  } finally {
    $("submit").disabled = false;
    $("result").removeAttribute("aria-busy");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("segment-form").addEventListener("submit", segment);
  $("model").addEventListener("change", showBackends);
  $("backend").addEventListener("change", showWeightsNote);
  $("api-key").addEventListener("change", loadModels);  // /models may need the key too
  // A file and a URL at once would be ambiguous: choosing one clears the other.
  $("file").addEventListener("change", () => { if ($("file").files[0]) $("url").value = ""; });
  $("url").addEventListener("input", () => { if ($("url").value) $("file").value = ""; });
  loadModels();
});
