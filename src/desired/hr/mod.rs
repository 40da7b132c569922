//! HR exports as a source: a CSV file read through a mapping file.
