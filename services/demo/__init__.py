"""The README's main job: certlife doing its whole job on this machine, end to end."""
