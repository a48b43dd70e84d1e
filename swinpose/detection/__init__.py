"""The bundled person detector: torchvision's FCOS trained on the synthetic figures (:mod:`.model`, :mod:`.train`),
its weights file (:mod:`.weights`) and its export before NMS in the runtime's ``ultralytics`` layout (:mod:`.onnx`).
Everything here needs torch and torchvision (:mod:`.torchvision_ops`); the runtime serves the export without them."""
