// Placeholder: implemented by the flv_tag module work.
#pragma once
