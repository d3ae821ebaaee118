"""The core object types: one module each (state and syscalls); `plugin` registers them."""
