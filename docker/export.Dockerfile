# One-shot export: builds the weights of model_repository/ (TorchScript + ONNX + configs + manifests).
# It needs torch, torchvision, onnx, onnxruntime and onnx2torch with the exact pins of requirements.txt, so it
# installs that file (the single source of versions) rather than a second, drifting list.
# Built by docker-compose.yml (context: the repository root); run with `docker compose --profile export run --rm export`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt /app/requirements.txt
COPY gateway/requirements.txt /app/gateway/requirements.txt
RUN pip install -r /app/requirements.txt
COPY export/ /app/export/
# what the export shares with the launcher and the gateway: the defaults (model repository path), the model
# contract, and the image modules the photo models' preprocessing runs in Triton (copied into the repository)
COPY gateway/__init__.py gateway/defaults.py gateway/contract.py gateway/images.py gateway/errors.py /app/gateway/
COPY serving/python_backend/photo_preprocess.py /app/serving/python_backend/photo_preprocess.py

ENTRYPOINT ["python", "-m", "export"]
CMD ["--if-missing", "--fallback-random", "--skip-parity", "--repository", "/models"]
