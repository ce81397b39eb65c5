"""Static C2SP tlog-tiles: the crash-safe incremental writer and the HTTP server (contracts/TILES.md)."""
