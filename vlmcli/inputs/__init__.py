"""Datasets as caption inputs: WebDataset tar shards, Parquet files, Hugging Face
`save_to_disk` folders and img2dataset output, besides plain folders of images.

    formats.py     InputFormat, and which one a path is (by content; --input-format forces it)
    braces.py      shards/{00000..00099}.tar -> the 100 names
    expand.py      the INPUT arguments -> the list of dataset shards to read, in order
    pattern_shards.py  a quoted pattern, --glob or --files-from list read as its matches' folder is
    shard_labels.py    short shard names that still differ (`train/data-00000-of-00001.arrow`)
    addresses.py   a URL or file:// given as a file: the one sentence every command says
    columns.py     which column is the image, the key, the kept columns; one cell -> bytes (pure)
    tar_shard.py   a WebDataset tar (plain, gzip'd, bzip2'd, xz'd): one item per key
    tar_members.py its members gathered into keys: links, debris, a member twice, a cut end
    tar_fields.py  which members of a key are captioned: a key of pictures only (a folder's tar) is
                   one item per picture; a WebDataset key one sample, the pictures left out counted
    tar_values.py  a member kept with --keep-columns, decoded as webdataset decodes it (cls as int)
    zip_shard.py   a zip of pictures: one item per picture member (`a.jpg#2`: a name twice)
    zip_salvage.py a zip cut short (no index at its end): its members from their local headers
    archive_names.py  macOS's `._*`, `.DS_Store`, `__MACOSX/`: no members of a dataset (pure)
    table_shard.py a Parquet file or an Arrow file of a `save_to_disk` dataset: one item per row
    csv_table.py   a CSV/TSV as an Arrow table, any encoding turned UTF-8 here (never on Arrow's threads)
    table_errors.py  what a table that cannot be read is said as: one escaped, bounded line
    spool.py       the image bytes of the shard being captioned, in a temporary file
    counts.py      samples per shard from metadata (footers, batch lengths, tar names): --dry-run

A shard is read once, front to back: each item's bytes are hashed, sized and spooled to a
temporary file, so the captioning that follows reads them back at random without holding
the shard in memory. An item's row has `path` = "<shard>::<key>", `source` = the shard,
`source_key` = the key, and `extra` = the kept columns as a JSON object.
"""
