"""The reliability harness: fault injection (:mod:`.fault`), concurrent publishers and
fetchers (:mod:`.concurrency`), a soak of ``zoo serve`` (:mod:`.soak`), and the writer of
docs/reliability.md (:mod:`.report`). The scripts under scripts/ are their entry points."""
