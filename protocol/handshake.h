// Placeholder: implemented by the handshake module work.
#pragma once
