"""Generator plugins: diffusion, GAN (+ TorchScript), style transfer, behind one protocol.

Each family registers under the `provenant.generators` entry-point group exactly like a
third-party plugin (`provenance.plugins.get_generator(name)`), takes
`(model, options, settings)`, gives its model card before loading anything, and loads only
local weights.  Importing this package (or a plugin module) does not import torch.

May import: kernel.
"""
