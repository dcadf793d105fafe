"""The thin Ray layer: cluster connection and the Ray Train worker loop."""
