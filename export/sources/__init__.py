"""Model sources: each turns some user input (a torchvision arch + weights, an ONNX file + spec) into a
`ModelSource`, i.e. a torch module with the contract's input and raw logits out, plus its labels."""
