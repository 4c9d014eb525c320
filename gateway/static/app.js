// The try-it page: one click → ONE inference (response_format=bundle: the summary plus the mask as PNG);
// the overlay is the mask drawn over the photo in the browser, its opacity a slider.
"use strict";

const $ = (id) => document.getElementById(id);
let catalogue = null;
let maskUrl = null;
let overlayUrl = null;
let shown = null;  // what the result shows: { labels, stem, photoUrl, request }

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
  const [height, width] = family.input_size;
  $("input-size").textContent =
    `This model sees the photo at ${width}×${height} (its input size); the mask has that size unless you ask for the photo's.`;
  showWeightsNote();
}

// Random weights are said by /models (before a request) and by every answer's X-Weights-Random header.
function showWeightsNote(header = null) {
  const family = catalogue && catalogue.models[$("model").value];
  const weights = family && family.backends[$("backend").value] && family.backends[$("backend").value].weights;
  const random = header === null ? Boolean(weights && weights.weights_are_random) : header === "true";
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

async function call(request) {
  const response = await fetch(request.url, { method: "POST", body: request.data, headers: authHeaders() });
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
  const mask = summary.mask_size;
  $("caption").textContent = `${size.width}×${size.height} photo · mask ${mask.width}×${mask.height} · ` +
    `model ${summary.model.name} (${summary.model.backend})`;
}

function photoStem() {
  const file = $("file").files[0];
  let name = file ? file.name : "";
  if (!file) {
    try { name = new URL($("url").value.trim()).pathname.split("/").pop(); } catch (error) { name = ""; }
  }
  return name.replace(/\.[^.]*$/, "") || "photo";
}

function base64Blob(text, type) {
  const bytes = Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
  return new Blob([bytes], { type });
}

// The mask in its class colours with the background transparent, on the canvas laid over the photo.
async function drawMaskLayer(maskBlob, labels) {
  const bitmap = await createImageBitmap(maskBlob);
  const canvas = $("mask-layer");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  const hasBackground = labels.length > 0 && ["background", "__background__"].includes(labels[0].trim().toLowerCase());
  if (hasBackground) {  // class 0 is black in the VOC palette, and only class 0
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    const data = pixels.data;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 0) data[i + 3] = 0;
    }
    context.putImageData(pixels, 0, 0);
  }
  bitmap.close();
}

function opacity() {
  return Number($("opacity").value) / 100;
}

function showOpacity() {
  $("mask-layer").style.opacity = String(opacity());
  $("opacity-value").textContent = `${$("opacity").value}%`;
}

// The overlay file: the photo at its own size with the mask blended in at the chosen opacity.
async function makeOverlayDownload() {
  const link = $("download-overlay");
  link.download = `${shown.stem}-overlay.png`;
  if (overlayUrl) URL.revokeObjectURL(overlayUrl);
  overlayUrl = null;
  const photo = $("overlay");
  const canvas = document.createElement("canvas");
  canvas.width = photo.naturalWidth;
  canvas.height = photo.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(photo, 0, 0);
  context.globalAlpha = opacity();
  context.imageSmoothingEnabled = false;
  context.drawImage($("mask-layer"), 0, 0, canvas.width, canvas.height);
  try {
    const blob = await new Promise((resolve, reject) => {
      try { canvas.toBlob((made) => (made ? resolve(made) : reject(new Error("no overlay"))), "image/png"); }
      catch (error) { reject(error); }
    });
    overlayUrl = URL.createObjectURL(blob);
    link.href = overlayUrl;
    link.dataset.source = "page";
  } catch (error) {
    // A photo from another site cannot be read back by the page: the service paints this overlay.
    link.href = "#";
    link.dataset.source = "service";
  }
  link.dataset.opacity = String(opacity());
}

async function downloadOverlayFromService(event) {
  const link = $("download-overlay");
  if (link.dataset.source !== "service" || !shown) return;
  event.preventDefault();
  try {
    const blob = await (await call(shown.overlayRequest())).blob();
    const temporary = document.createElement("a");
    temporary.href = URL.createObjectURL(blob);
    temporary.download = `${shown.stem}-overlay.png`;
    temporary.click();
    setTimeout(() => URL.revokeObjectURL(temporary.href), 10000);
  } catch (error) {
    setStatus(`Could not download the overlay: ${error.message}`, true);
  }
}

function clearResult() {
  $("result").hidden = true;
  $("legend").replaceChildren();
  $("caption").textContent = "";
  const image = $("overlay");
  if (image.src && image.src.startsWith("blob:")) URL.revokeObjectURL(image.src);
  image.removeAttribute("src");
  const canvas = $("mask-layer");
  canvas.width = 0;
  canvas.height = 0;
  for (const url of [maskUrl, overlayUrl]) if (url) URL.revokeObjectURL(url);
  maskUrl = overlayUrl = null;
  $("download-mask").href = "#";
  $("download-overlay").href = "#";
  shown = null;
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
  $("result").dataset.state = "busy";
  setStatus("Segmenting…");
  try {
    const response = await call(requestFor("bundle", { mask_size: maskSize }));
    const bundle = await response.json();
    showWeightsNote(response.headers.get("X-Weights-Random"));
    const file = $("file").files[0];
    const photoUrl = file ? URL.createObjectURL(file) : $("url").value.trim();
    const maskBlob = base64Blob(bundle.mask_png, "image/png");
    clearResult();
    const stem = photoStem();
    const overlayRequest = requestFor("overlay", { legend: "false" });
    shown = { labels: bundle.labels, stem, overlayRequest: () => overlayRequest };
    const image = $("overlay");
    image.src = photoUrl;
    await Promise.all([image.decode(), drawMaskLayer(maskBlob, bundle.labels)]);
    showOpacity();
    maskUrl = URL.createObjectURL(maskBlob);
    $("download-mask").href = maskUrl;
    $("download-mask").download = `${stem}-mask.png`;
    showLegend(bundle);
    $("result").hidden = false;
    await makeOverlayDownload();
    $("result").dataset.state = "done";
    setStatus(`Done: ${bundle.classes.length} classes found.`);
  } catch (error) {
    // A failed request must not leave the previous photo's result on screen as if it were this one's.
    clearResult();
    $("result").dataset.state = "error";
    setStatus(`Could not segment: ${error.message}`, true);
  } finally {
    $("submit").disabled = false;
    $("result").removeAttribute("aria-busy");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("segment-form").addEventListener("submit", segment);
  $("opacity").addEventListener("input", showOpacity);
  $("opacity").addEventListener("change", () => { if (shown) makeOverlayDownload(); });
  $("download-overlay").addEventListener("click", downloadOverlayFromService);
  $("model").addEventListener("change", showBackends);
  $("backend").addEventListener("change", () => showWeightsNote());
  $("api-key").addEventListener("change", loadModels);  // /models may need the key too
  // A file and a URL at once would be ambiguous: choosing one clears the other.
  $("file").addEventListener("change", () => { if ($("file").files[0]) $("url").value = ""; });
  $("url").addEventListener("input", () => { if ($("url").value) $("file").value = ""; });
  loadModels();
});
