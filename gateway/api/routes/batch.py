"""POST /infer/files: several images in one request, one Triton batch. STUB (owner: outputs engineer)."""
from fastapi import APIRouter

router = APIRouter()
