// Placeholder: implemented by the amf0 module work.
#pragma once
