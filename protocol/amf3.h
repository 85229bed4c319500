// Placeholder: implemented by the amf3 module work.
#pragma once
