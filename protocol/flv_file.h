// Placeholder: implemented by the flv_file module work.
#pragma once
