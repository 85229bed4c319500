// Placeholder: implemented by the aggregate module work.
#pragma once
