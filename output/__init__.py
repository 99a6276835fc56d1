"""Stage 4: write the run folder (files, tables, manifest) and send email."""
