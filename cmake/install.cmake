# Installation (owned by the packaging work): placeholder until written.
