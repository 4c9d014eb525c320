"""``SegmentationClient``: the gateway over HTTP, one call for any image kind and backend, batches and retries."""

from __future__ import annotations

import base64
import io
import math
import numbers
import time
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import httpx
import numpy as np
from PIL import Image

from client.inputs import ImageInput, image_bytes, is_url
from client.result import SegmentationResult
from gateway.contract import DEFAULT_RUNTIME, MAP_RESULT, RESULT_TYPES

ALL_RESULTS: tuple[str, ...] = RESULT_TYPES
# The same defaults as the API, the `segment` CLI and the web page (tests/client/test_defaults.py checks).
DEFAULT_BACKEND = DEFAULT_RUNTIME
DEFAULT_MASK_SIZE = "model"
DEFAULT_BATCH_SIZE = 8  # the gateway's default GATEWAY_MAX_BATCH_FILES
# Requests iter_segment (segment_many, the CLI) keeps in flight at once: the gateway decodes the next batch while
# Triton runs the current one, and this side reads the next files and writes the previous answers meanwhile.
DEFAULT_IN_FLIGHT = 2
WEIGHTS_RANDOM_HEADER = "X-Weights-Random"


class GatewayError(RuntimeError):
    """The gateway answered with an error status; ``detail`` is its explanation."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class SegmentationClient:
    """Talks to a running gateway, e.g. ``SegmentationClient("http://127.0.0.1:8080")``.

    A map-only request (the default) travels as ``response_format=bundle``: the map as a small PNG plus the
    summary, so the result has both. Score arrays travel as an npz archive (exact float32, ~20× smaller and far
    faster than the JSON lists). A 503 (overloaded, or Triton not ready) is retried up to ``retries`` times,
    waiting what ``Retry-After`` says (at most ``max_retry_wait`` seconds, 1 s when absent). ``retries`` must be an
    integer >= 0 and ``timeout`` a finite number of seconds > 0: anything else is a ValueError at construction.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 120.0,
        api_key: str | None = None,
        retries: int = 3,
        max_retry_wait: float = 30.0,
    ) -> None:
        check_seconds("timeout", timeout, zero_ok=False)
        self.retries = retries  # checked by the setters: a ValueError here, not a failure at the first request
        self.max_retry_wait = max_retry_wait
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url, timeout=timeout, headers=headers)
        self._default_model: str | None = None

    @property
    def retries(self) -> int:
        """Retries of a request answered 503: an integer >= 0 (0: none)."""
        return self._retries

    @retries.setter
    def retries(self, value: int) -> None:
        check_retries(value)
        self._retries = value

    @property
    def max_retry_wait(self) -> float:
        """The longest wait before a retry, in seconds (>= 0), whatever Retry-After says."""
        return self._max_retry_wait

    @max_retry_wait.setter
    def max_retry_wait(self, value: float) -> None:
        check_seconds("max_retry_wait", value, zero_ok=True)
        self._max_retry_wait = value

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    def __enter__(self) -> SegmentationClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def segment(
        self,
        image: ImageInput,
        *,
        backend: str = DEFAULT_BACKEND,
        results: Sequence[str] = (MAP_RESULT,),
        model: str | None = None,
        mask_size: str = DEFAULT_MASK_SIZE,
    ) -> SegmentationResult:
        """Segment a path, http(s) URL, encoded bytes, PIL image or numpy array.

        ``backend`` is ``onnx`` or ``torch``; ``results`` any of logits, pixels_distribution,
        segmentation_map; ``model`` a family from ``models()`` (default: the gateway's);
        ``mask_size`` ``model`` (the model's input size) or ``original`` (the photo's).
        A map-only result also carries ``summary`` (classes, fractions, confidence, weights).
        """
        results = tuple(results) or ALL_RESULTS
        bundle = results == (MAP_RESULT,)
        form = self._form(backend, model, mask_size, "bundle" if bundle else "npz")
        if not bundle:
            form["requested_results_types"] = list(results)
        if is_url(image):
            response = self._post("/infer/url", data={**form, "url_image": image})
        else:
            response = self._post("/infer/file", data=form, files={"file": ("image", image_bytes(image))})
        self._raise_for_error(response)
        weights_random = _weights_random(response)
        if bundle:
            return _from_bundle(response.json(), backend=backend, weights_random=weights_random)
        model_name = model or self.default_model()
        with np.load(io.BytesIO(response.content)) as archive:
            arrays = {name: archive[name] for name in archive.files}
        labels = tuple(str(label) for label in arrays.pop("labels"))
        return SegmentationResult.from_arrays(
            arrays,
            labels=labels,
            model=model_name,
            backend=backend,
            weights_random=weights_random,
        )

    def overlay(
        self,
        image: ImageInput,
        *,
        backend: str = DEFAULT_BACKEND,
        model: str | None = None,
        image_format: str = "PNG",
        legend: bool = True,
    ) -> bytes:
        """The gateway's own overlay (``response_format=overlay`` or ``overlay_jpeg``): the photo at its size with
        the classes painted over it, as PNG or JPEG bytes. A URL is fetched by the gateway (``POST /infer/url``,
        under its URL policy), never by this machine; anything else is uploaded to ``/infer/file``."""
        formats = {"PNG": "overlay", "JPEG": "overlay_jpeg"}
        if image_format not in formats:
            raise ValueError(f"image_format must be PNG or JPEG, got {image_format!r}")
        form = self._form(backend, model, DEFAULT_MASK_SIZE, formats[image_format])
        form["legend"] = "true" if legend else "false"
        if is_url(image):
            response = self._post("/infer/url", data={**form, "url_image": image})
        else:
            response = self._post("/infer/file", data=form, files={"file": ("image", image_bytes(image))})
        self._raise_for_error(response)
        return response.content

    def segment_many(self, images: Iterable[ImageInput], **options: object) -> list[SegmentationResult | Exception]:
        """Like ``segment`` (map and summary) for several images; see ``iter_segment``."""
        return [outcome for _, outcome in self.iter_segment(images, **options)]  # type: ignore[arg-type]

    def iter_segment(
        self,
        images: Iterable[ImageInput],
        *,
        backend: str = DEFAULT_BACKEND,
        model: str | None = None,
        mask_size: str = DEFAULT_MASK_SIZE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        in_flight: int = DEFAULT_IN_FLIGHT,
        fail_alone: bool = False,
    ) -> Generator[tuple[int, SegmentationResult | Exception], None, None]:
        """(index, result or error) for each image, in order: files go ``batch_size`` at a time through
        ``POST /infer/files`` (one Triton batch each), URLs one by one. An image that fails (unreadable
        file, not an image: a GatewayError or OSError) is yielded as its error; the others go on. Errors
        that fail every image (gateway unreachable, a refused request) are raised; with ``fail_alone`` a request
        that fails as a whole (a refused batch, a timeout) is yielded as the error of each of its images instead,
        and only a connection that cannot be made (httpx.ConnectError, ConnectTimeout) is raised.

        The stages overlap: up to ``in_flight`` requests (>= 1) are in flight at once, each on a thread of its own,
        while the next files are read and the answers already back are yielded. ``images`` is read as it goes, a
        batch or so ahead of the requests in flight. Closing the iterator early waits for the requests in flight.
        """
        check_in_flight(in_flight)
        size = max(batch_size, 1)
        form = self._form(backend, model, mask_size, "bundle")
        pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="segment")
        queue: deque[_Job] = deque()  # submitted work, oldest first: yielded in this order
        entries: list[tuple[int, bytes | Exception]] = []  # the batch being gathered

        def submit(job: _Job) -> Iterator[tuple[int, SegmentationResult | Exception]]:
            """Queue ``job``, whose request is already with the pool: its ``in_flight`` threads bound the requests
            out at once, so the request starts as soon as the oldest is answered. With ``in_flight`` requests queued
            here, wait for the oldest first (this bounds how far ``images`` is read ahead); its answers, and those
            queued before it, are yielded after the new job is queued."""
            done: list[_Job] = []
            while job.future is not None and sum(queued.future is not None for queued in queue) >= in_flight:
                done.append(oldest := queue.popleft())
                if oldest.future is not None:
                    wait([oldest.future])
            queue.append(job)
            for finished in done:
                yield from finished.outcomes(fail_alone)

        def gathered() -> _Job:
            batch = list(entries)
            entries.clear()
            sent = [data for _, data in batch if isinstance(data, bytes)]
            future = pool.submit(self._post_batch, sent, form, backend) if sent else None
            return _Job(batch, future)

        try:
            for index, image in enumerate(images):
                if is_url(image):
                    if entries:
                        yield from submit(gathered())
                    url_future = pool.submit(self._segment_url, image, backend, model, mask_size)
                    yield from submit(_Job([(index, b"")], url_future, url=True))
                else:
                    try:
                        entries.append((index, image_bytes(image)))
                    except (OSError, ValueError, TypeError) as error:
                        entries.append((index, error))
                    if sum(isinstance(data, bytes) for _, data in entries) >= size:
                        yield from submit(gathered())
                while queue and queue[0].done():  # answers already back: yield them now
                    yield from queue.popleft().outcomes(fail_alone)
            if entries:
                yield from submit(gathered())
            while queue:
                yield from queue.popleft().outcomes(fail_alone)
        finally:
            for job in queue:
                if job.future is not None:
                    job.future.cancel()
            pool.shutdown(wait=True)

    def _segment_url(self, url: str, backend: str, model: str | None, mask_size: str) -> SegmentationResult:
        return self.segment(url, backend=backend, model=model, mask_size=mask_size)

    def _post_batch(
        self, sent: list[bytes], form: dict[str, object], backend: str
    ) -> list[SegmentationResult | Exception]:
        """One ``POST /infer/files`` of encoded photos: each photo's result or its error, in order."""
        files = [("file", (f"image{position}", data)) for position, data in enumerate(sent)]
        response = self._post("/infer/files", data=form, files=files)
        self._raise_for_error(response)
        weights_random = _weights_random(response)
        outcomes: list[SegmentationResult | Exception] = []
        for item in response.json()["results"]:
            if item["status"] == 200:
                outcomes.append(_from_bundle(item["result"], backend=backend, weights_random=weights_random))
            else:
                outcomes.append(GatewayError(item["status"], item["detail"]))
        if len(outcomes) != len(sent):
            raise GatewayError(response.status_code, f"{len(outcomes)} results for {len(sent)} photos")
        return outcomes

    def default_model(self) -> str:
        if self._default_model is None:
            self._default_model = str(self.models()["default_model"])
        return self._default_model

    def models(self) -> dict:
        """The gateway's ``GET /models``: families, backends, labels, input size, what the weights are."""
        response = self._request("GET", "/models")
        self._raise_for_error(response)
        return response.json()

    def ready(self) -> bool:
        return self._http.get("/ready").status_code == 200

    @staticmethod
    def _form(backend: str, model: str | None, mask_size: str, response_format: str) -> dict[str, object]:
        form: dict[str, object] = {
            "infer_model_type": backend,
            "mask_size": mask_size,
            "response_format": response_format,
        }
        if model:
            form["model"] = model
        return form

    def _post(self, url: str, **kwargs: object) -> httpx.Response:
        return self._request("POST", url, **kwargs)

    def _request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        """One request, retried on 503 at most ``retries`` times, honouring Retry-After (bounded)."""
        for attempt in range(self.retries + 1):
            response = self._http.request(method, url, **kwargs)  # type: ignore[arg-type]
            if response.status_code != 503 or attempt == self.retries:
                return response
            time.sleep(retry_delay(response.headers.get("Retry-After"), self.max_retry_wait))
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _raise_for_error(response: httpx.Response) -> None:
        if response.is_success:
            return
        try:
            detail = str(response.json().get("detail", response.text))
        except ValueError:
            detail = response.text
        raise GatewayError(response.status_code, detail)


@dataclass
class _Job:
    """Work of ``iter_segment`` in its order: a batch's entries (photo bytes sent, or the error of a photo that
    could not be read) and the request's future; or one URL (``url``), whose future is its ``segment``."""

    entries: list[tuple[int, bytes | Exception]]
    future: Future | None
    url: bool = False

    def done(self) -> bool:
        return self.future is None or self.future.done()

    def outcomes(self, fail_alone: bool) -> Iterator[tuple[int, SegmentationResult | Exception]]:
        """Each entry's (index, result or error), in order; the request's answer is awaited at the first photo
        that was sent, so the errors of photos before it come first, as when the request fails."""
        answers: Iterator[SegmentationResult | Exception] | None = None
        for index, data in self.entries:
            if isinstance(data, Exception):
                yield index, data
                continue
            if answers is None:
                answers = iter(self._answers(fail_alone))
            yield index, next(answers)

    def _answers(self, fail_alone: bool) -> list[SegmentationResult | Exception]:
        assert self.future is not None
        sent = sum(isinstance(data, bytes) for _, data in self.entries)
        try:
            answer = self.future.result()
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise
        except GatewayError as error:
            if self.url or fail_alone:  # a URL's refusal is its own error, as a photo's
                return [error] * sent
            raise
        except httpx.HTTPError as error:
            if fail_alone:
                return [error] * sent
            raise
        return [answer] if self.url else answer


def check_in_flight(in_flight: object) -> None:
    """``in_flight`` is a whole number >= 1: how many requests ``iter_segment`` keeps out at once."""
    if isinstance(in_flight, bool) or not isinstance(in_flight, numbers.Integral) or in_flight < 1:
        raise ValueError(f"in_flight must be an integer >= 1, got {in_flight!r}")


def check_retries(retries: object) -> None:
    """``retries`` is a whole number >= 0 (0: no retry); anything else is a ValueError now, not a failure later."""
    if isinstance(retries, bool) or not isinstance(retries, numbers.Integral) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, got {retries!r}")


def check_seconds(name: str, value: object, *, zero_ok: bool) -> None:
    """A duration in seconds: a finite number, > 0 (or >= 0 where ``zero_ok``)."""
    bound = ">= 0" if zero_ok else "> 0"
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not zero_ok)
    ):
        raise ValueError(f"{name} must be a finite number of seconds {bound}, got {value!r}")


def retry_delay(retry_after: str | None, cap: float) -> float:
    """Seconds to wait for a ``Retry-After`` value (seconds; dates and junk count as 1 s), at most ``cap``."""
    try:
        seconds = float(retry_after) if retry_after is not None else 1.0
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.0), cap)


def _weights_random(response: httpx.Response) -> bool | None:
    value = response.headers.get(WEIGHTS_RANDOM_HEADER)
    return None if value is None else value.strip().lower() == "true"


def _from_bundle(body: dict, *, backend: str, weights_random: bool | None) -> SegmentationResult:
    mask = Image.open(io.BytesIO(base64.b64decode(body.pop("mask_png"))))
    labels = tuple(body.pop("labels"))
    if weights_random is None:
        weights_random = (body.get("weights") or {}).get("weights_are_random")
    return SegmentationResult(
        labels=labels,
        model=str(body["model"]["family"]),
        backend=backend,
        segmentation_map=np.asarray(mask, dtype=np.uint8),
        summary=body,
        weights_random=weights_random,
    )
