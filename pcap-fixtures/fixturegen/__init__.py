"""The pcap fixtures' generator: a small library (topology model, pcap writer,
scenario bookkeeping, frame builders) and one module per scenario family, each
scenario registered where it is defined (`@register`)."""
