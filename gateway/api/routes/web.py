"""GET /: the try-it web page. STUB (owner: outputs engineer)."""
from fastapi import APIRouter

router = APIRouter()
