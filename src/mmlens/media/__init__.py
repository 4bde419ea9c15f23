"""Video as a media step: decoders (PyAV, decord, torchcodec), frame sampling rules, subtitles."""
