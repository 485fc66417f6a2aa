"""Captions out to trainers: `vlm export CAPTIONS_DIR --to FORMAT -o OUT`.

A caption run writes one row per (image, prompt). Trainers want one record per image with
one column per prompt, in their own layout. The flow:

    results.read_results(folder)   every row of a run's shards (parquet or jsonl)
    records.join_rows(rows, ...)   one Record per image; ok captions only, errors counted
    formats.<name>.Exporter        writes the records: txt, imagefolder, webdataset,
                                   parquet (Hugging Face `Image` feature), jsonl
    decoded                        which pictures a trainer would read otherwise than the
                                   run did: those go in as the run's picture (a PNG)

Pure logic (`records`, `names`) is separate from reading shards and images and from
writing files; each output format is one small class found through `registry`.
"""
