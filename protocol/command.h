// Placeholder: implemented by the command module work.
#pragma once
