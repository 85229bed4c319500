// Placeholder: implemented by the control module work.
#pragma once
