# NVIDIA's Triton image (native libtorch, onnxruntime and Python backends) plus Pillow for the photo models'
# preprocessing (<family>_preprocess, Python backend: the gateway's own decoder, copied into the repository by
# the export). 24.10 ships Triton 2.51.0, the embedded mode's server version.
FROM nvcr.io/nvidia/tritonserver:24.10-py3
COPY docker/triton-python-requirements.txt /opt/segmentation/requirements.txt
RUN pip install --no-cache-dir -r /opt/segmentation/requirements.txt
