"""`vlm caption-dir`'s pipeline: caption many images into Parquet / JSONL / .txt, resumably.

One concept per module, in flow order:

    discover.py   folders, globs, --files-from -> candidate files
    probe.py      read each once: image or not, SHA-256 key, header size (thread pool)
    prompts.py    prompts and the config hash that identifies settings
    shard.py      --shard I/N: deterministic split by content key
    plan.py       resume / de-duplication / retry decisions -> tasks (pure)
    batching.py   group tasks by visual tokens, capped by count and tokens (pure)
    decode.py     safe decoding, failures as values
    workers.py    background decoding of upcoming batches (bounded queue)
    runner.py     one batch through the engine -> rows (errors are rows)
    videos.py     --videos: video prompts, frame sampling, video requests and rows
    rows.py       row construction (schema in vlmcli.sinks.schema)
    pipeline.py   the run, start to end (local engine)
    ray_backend.py  the same batches on Ray Data actors
    dryrun.py     counts, visual tokens and a calibrated time estimate
    entry.py      the one call commands make: files, or dataset shards by backend
    dataset_items.py  dataset items -> probes and row columns (shared by the dataset runs)
    datasets_run.py   dataset shards, shard by shard, in this process
    ray_reads.py      dataset shards read by Ray Data (one read task per shard)
    ray_datasets.py   dataset shards with --engine ray: read, plan once, caption on actors
    datasets_dryrun.py  --dry-run on dataset shards (metadata counts + the run's plan)
    summary.py, progress.py   what the user sees on stderr (or --json)

Importing this package is cheap; torch loads with the engine, pyarrow with Parquet, rich
with the progress bar.
"""
